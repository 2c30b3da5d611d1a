// The notes app's isolation hook: every frontend message passes here before
// it is sealed. The page may create, list, read and export notes; deleting
// is for the backend (cmd/notes-client, through the trusted socket).
const ALLOWED = new Set(["create_note", "list_notes", "get_note", "export_notes"]);

window.__TAURI_ISOLATION_HOOK__ = (payload) => {
  if (payload.cmd === "invoke") {
    const cmd = payload.message.cmd;
    if (!ALLOWED.has(cmd)) {
      throw new Error(cmd + " is not allowed from the page");
    }
    const args = payload.message.args || {};
    if (cmd === "create_note" && /<script/i.test(String(args.body || ""))) {
      throw new Error("notes may not carry scripts");
    }
  }
  if (payload.cmd === "emit") {
    throw new Error("the page emits no events");
  }
  return payload;
};
