// Only the commands listed here may be invoked; everything else is blocked.
const ALLOWED = new Set(["greet", "process_data", "count"]);

window.__TAURI_ISOLATION_HOOK__ = (payload) => {
  if (payload.cmd !== "invoke") return payload;
  if (!ALLOWED.has(payload.message.cmd)) {
    throw new Error("command " + payload.message.cmd + " is not on the whitelist");
  }
  return payload;
};
