// A Tauri v2 isolation hook: the payload is {cmd: "<command>", callback,
// error, payload: {...args}, options: {headers}}; events arrive as the
// plugin:event|emit, plugin:event|emit_to and plugin:event|listen commands.
//
// Only the listed commands pass; read_file is refused a path under /etc or
// /root, or one that climbs with ".."; emitted event names must be lower
// case words joined by "-" or ":".
const ALLOWED = new Set([
  "greet", "process_data", "count", "read_file",
  "plugin:event|emit", "plugin:event|emit_to", "plugin:event|listen", "plugin:event|unlisten",
]);
const EVENT_NAME = /^[a-z][a-z0-9-]*(:[a-z0-9-]+)*$/;

function badPath(p) {
  if (typeof p !== "string") return false;
  const norm = p.replace(/\\/g, "/");
  return norm === "/etc" || norm.startsWith("/etc/") || norm === "/root" || norm.startsWith("/root/") ||
    norm.split("/").includes("..");
}

window.__TAURI_ISOLATION_HOOK__ = (payload, options) => {
  if (!ALLOWED.has(payload.cmd)) {
    throw new Error("command " + payload.cmd + " is not on the whitelist");
  }
  if (payload.cmd === "read_file" && badPath(payload.payload.path)) {
    throw new Error("blocked path");
  }
  if ((payload.cmd === "plugin:event|emit" || payload.cmd === "plugin:event|emit_to") &&
      !EVENT_NAME.test(payload.payload.event)) {
    return null;
  }
  return payload;
};
