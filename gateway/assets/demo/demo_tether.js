// Generated from gen/ts/tether/demo/v1/demo_tether.ts by js/build.mjs (esbuild). Do not edit.
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
async function greet(args, options) {
  try {
    return await _invoke("greet", args, options);
  } catch (err) {
    throw _commandError("greet", err);
  }
}
async function processData(args, options) {
  try {
    return await _invoke("process_data", args, options);
  } catch (err) {
    throw _commandError("process_data", err);
  }
}
async function readFile(args, options) {
  try {
    return await _invoke("read_file", args, options);
  } catch (err) {
    throw _commandError("read_file", err);
  }
}
async function fail(args, options) {
  try {
    await _invoke("fail", args, options);
  } catch (err) {
    throw _commandError("fail", err);
  }
}
async function count(args, onMessage, options) {
  const channel = new _Channel();
  channel.onmessage = onMessage;
  try {
    await _invoke("count", { ...args, onMessage: channel }, options);
  } catch (err) {
    throw _commandError("count", err);
  }
}
async function listenFrontendEvent(handler, options) {
  try {
    return await _listen("frontend-event", handler, options);
  } catch (err) {
    throw _commandError("plugin:event|listen", err);
  }
}
async function onceFrontendEvent(handler, options) {
  try {
    return await _once("frontend-event", handler, options);
  } catch (err) {
    throw _commandError("plugin:event|listen", err);
  }
}
async function emitFrontendEvent(payload) {
  try {
    await _emit("frontend-event", payload);
  } catch (err) {
    throw _commandError("plugin:event|emit", err);
  }
}
export {
  CommandError,
  count,
  emitFrontendEvent,
  fail,
  greet,
  listenFrontendEvent,
  onceFrontendEvent,
  processData,
  readFile
};
