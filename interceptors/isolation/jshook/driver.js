// Tether isolation driver. Evaluated after the guards and before any hook
// file; the object it returns is held by Go only, so hooks cannot replace
// it. It parses the payload, calls the hook, awaits a thenable and
// serializes the result, reporting through done(json, reason).
(function () {
  "use strict";
  var parse = JSON.parse, stringify = JSON.stringify, P = Promise;
  var resolve = P.resolve.bind(P), then = P.prototype.then;
  function text(e) {
    try {
      if (e !== null && typeof e === "object" && "message" in e) return String(e.message);
      return String(e);
    } catch (_) {
      return "isolation hook threw a value that cannot be shown";
    }
  }
  function settle(done, v) {
    if (v === null || v === undefined) { done(null, "isolation hook returned no payload"); return; }
    if (typeof v !== "object") { done(null, "isolation hook returned a value that is not an object"); return; }
    var s;
    try { s = stringify(v); } catch (e) { done(null, text(e)); return; }
    if (typeof s !== "string") { done(null, "isolation hook returned a value that is not JSON"); return; }
    done(s, null);
  }
  return {
    text: text,
    call: function (input, done) {
      var hook = globalThis.__TAURI_ISOLATION_HOOK__;
      if (typeof hook !== "function") { done(null, "window.__TAURI_ISOLATION_HOOK__ is not a function"); return; }
      var res;
      try { res = hook(parse(input)); } catch (e) { done(null, text(e)); return; }
      var thenable = false;
      try { thenable = res !== null && typeof res === "object" && typeof res.then === "function"; } catch (e) { done(null, text(e)); return; }
      if (!thenable) { settle(done, res); return; }
      then.call(resolve(res), function (v) { settle(done, v); }, function (e) { done(null, text(e)); });
    }
  };
})()
