// Generated from examples/notes/gen/ts/notes/v1/notes_tether.ts by js/build.mjs (esbuild). Do not edit.
import { Channel as _Channel, emit as _emit, invoke as _invoke, listen as _listen, once as _once } from "/ipc/client.js";
const _codes = /* @__PURE__ */ new Set(["canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found", "already_exists", "permission_denied", "resource_exhausted", "failed_precondition", "aborted", "out_of_range", "unimplemented", "internal", "unavailable", "data_loss", "unauthenticated"]);
class CommandError extends Error {
  /** The code of the failure. */
  code;
  /** The command's own error value, if it gave one. */
  details;
  /** The command that failed ("plugin:event|listen" and "plugin:event|emit" for events). */
  command;
  constructor(command, code, message, details) {
    super(message);
    this.name = "CommandError";
    this.command = command;
    this.code = code;
    this.details = details;
  }
}
function _commandError(command, err) {
  if (err instanceof CommandError) return err;
  let e;
  const body = typeof err === "object" && err !== null ? err : void 0;
  if (body !== void 0 && typeof body.code === "string") {
    const code = _codes.has(body.code) ? body.code : "unknown";
    e = new CommandError(command, code, typeof body.message === "string" ? body.message : body.code, body.details);
  } else if (err instanceof Error) {
    e = new CommandError(command, "unknown", err.message);
  } else if (typeof err === "string") {
    e = new CommandError(command, "unknown", err);
  } else {
    e = new CommandError(command, "unknown", typeof body?.message === "string" ? body.message : command + " failed", err);
  }
  Object.defineProperty(e, "cause", { value: err, configurable: true, writable: true });
  return e;
}
async function createNote(args, options) {
  try {
    return await _invoke("create_note", args, options);
  } catch (err) {
    throw _commandError("create_note", err);
  }
}
async function listNotes(args, options) {
  try {
    return await _invoke("list_notes", args ?? {}, options);
  } catch (err) {
    throw _commandError("list_notes", err);
  }
}
async function getNote(args, options) {
  try {
    return await _invoke("get_note", args, options);
  } catch (err) {
    throw _commandError("get_note", err);
  }
}
async function deleteNote(args, options) {
  try {
    await _invoke("delete_note", args, options);
  } catch (err) {
    throw _commandError("delete_note", err);
  }
}
async function exportNotes(args, onMessage, options) {
  const channel = new _Channel();
  channel.onmessage = onMessage;
  try {
    await _invoke("export_notes", { ...args, onMessage: channel }, options);
  } catch (err) {
    throw _commandError("export_notes", err);
  }
}
async function listenNoteCreated(handler, options) {
  try {
    return await _listen("note-created", handler, options);
  } catch (err) {
    throw _commandError("plugin:event|listen", err);
  }
}
async function onceNoteCreated(handler, options) {
  try {
    return await _once("note-created", handler, options);
  } catch (err) {
    throw _commandError("plugin:event|listen", err);
  }
}
async function emitNoteCreated(payload) {
  try {
    await _emit("note-created", payload);
  } catch (err) {
    throw _commandError("plugin:event|emit", err);
  }
}
export {
  CommandError,
  createNote,
  deleteNote,
  emitNoteCreated,
  exportNotes,
  getNote,
  listNotes,
  listenNoteCreated,
  onceNoteCreated
};
