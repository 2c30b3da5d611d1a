// Emitted events must have a well-formed name and an object payload of at
// most MAX_BYTES as JSON. Invokes and listens pass.
const NAME = /^[a-z][a-z0-9-]*(:[a-z0-9-]+)*$/;
const MAX_BYTES = 4096;

window.__TAURI_ISOLATION_HOOK__ = (payload) => {
  if (payload.cmd !== "emit") return payload;
  if (!NAME.test(payload.event)) return null; // blocked
  const body = payload.payload;
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new Error("event payload must be an object");
  }
  if (JSON.stringify(body).length > MAX_BYTES) {
    throw new Error("event payload is larger than " + MAX_BYTES + " bytes");
  }
  return payload;
};
