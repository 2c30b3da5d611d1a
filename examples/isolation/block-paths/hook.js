// Blocks file paths in invoke arguments: any "path" key, at any depth, that
// starts with /etc or /root or ~, or that contains "..". The reasons name the
// rule, not the path: they reach logs, and a payload should not.
const BLOCKED_PREFIXES = ["/etc", "/root"];

function badPath(p) {
  if (typeof p !== "string") return null;
  const norm = p.replace(/\\/g, "/");
  if (norm.startsWith("~")) return "home-relative path";
  if (norm.split("/").includes("..")) return "path with ..";
  for (const prefix of BLOCKED_PREFIXES) {
    if (norm === prefix || norm.startsWith(prefix + "/")) return "path under " + prefix;
  }
  if (norm.includes("\u0000")) return "path with a NUL byte";
  return null;
}

function check(value, depth) {
  if (depth > 32 || value === null || typeof value !== "object") return null;
  for (const [key, v] of Object.entries(value)) {
    const reason = key === "path" ? badPath(v) : null;
    if (reason) return reason;
    const inner = check(v, depth + 1);
    if (inner) return inner;
  }
  return null;
}

window.__TAURI_ISOLATION_HOOK__ = (payload) => {
  if (payload.cmd === "invoke") {
    const reason = check(payload.message.args, 0);
    if (reason) throw new Error("blocked " + reason);
  }
  return payload;
};
