// Security keys and passkeys (WebAuthn): registration, the answer at the
// second step, and passkey sign-in. Everything else works without JavaScript.
//
// The sentences this script shows come from the page, in its language: the
// error box (the element the message goes into) carries them as
// data-msg-failed, data-msg-cancelled and data-msg-unsupported. English is
// the fallback.
(function () {
  "use strict";

  var fallback = {
    failed: "Something went wrong. Please try again.",
    cancelled: "The security key did not answer, or the request was cancelled. Try again.",
    unsupported: "This browser cannot use security keys. Use another method."
  };
  // text is the page's sentence for key (in box's data-msg-KEY).
  function text(box, key) {
    return (box && box.getAttribute("data-msg-" + key)) || fallback[key];
  }

  function fromB64url(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toB64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(o) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(o);
    o.challenge = fromB64url(o.challenge);
    o.user.id = fromB64url(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return o;
  }
  function requestOptions(o) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(o);
    o.challenge = fromB64url(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return o;
  }
  function credentialJSON(c) {
    if (c.toJSON) return c.toJSON();
    var r = c.response, out = { id: c.id, rawId: toB64url(c.rawId), type: c.type, clientExtensionResults: c.getClientExtensionResults(), response: { clientDataJSON: toB64url(r.clientDataJSON) } };
    if (r.attestationObject) out.response.attestationObject = toB64url(r.attestationObject);
    if (r.authenticatorData) out.response.authenticatorData = toB64url(r.authenticatorData);
    if (r.signature) out.response.signature = toB64url(r.signature);
    if (r.userHandle) out.response.userHandle = toB64url(r.userHandle);
    return out;
  }
  function post(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (!r.ok) {
            var err = new Error((j.error && j.error.message) || "");
            if (!err.message) err.msgKey = "failed";
            throw err;
          }
          return j;
        });
      });
  }
  function fail(box, err) {
    var msg;
    if (err && err.name === "NotAllowedError") msg = text(box, "cancelled");
    else if (err && err.msgKey) msg = text(box, err.msgKey);
    else msg = (err && err.message) || String(err);
    box.textContent = msg;
    box.hidden = false;
  }
  function supported(box) {
    if (window.PublicKeyCredential) return true;
    var err = new Error(fallback.unsupported);
    err.msgKey = "unsupported";
    fail(box, err);
    return false;
  }

  // Adding a security key or a passkey: the result shows backup codes when
  // this method turned two-factor authentication on.
  function register(formId, api, errorId, resultId) {
    var reg = document.getElementById(formId);
    if (!reg) return;
    reg.hidden = false;
    reg.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var box = document.getElementById(errorId);
      box.hidden = true;
      if (!supported(box)) return;
      var name = reg.querySelector("[name=name]").value;
      post(api + "/begin")
        .then(function (o) { return navigator.credentials.create({ publicKey: creationOptions(o.publicKey) }); })
        .then(function (c) { return post(api + "/finish", { name: name, credential: credentialJSON(c) }); })
        .then(function (res) {
          if (!res.backup_codes) { window.location = "/account/security?done=method_added"; return; }
          var out = document.getElementById(resultId);
          var list = document.createElement("ol");
          list.className = "codes";
          list.id = "backup-codes";
          res.backup_codes.forEach(function (code) { var li = document.createElement("li"); li.textContent = code; list.appendChild(li); });
          out.querySelector(".codes-here").appendChild(list);
          out.hidden = false;
          reg.hidden = true;
        })
        .catch(function (err) { fail(box, err); });
    });
  }
  register("webauthn-register", "/api/v1/me/2fa/webauthn", "webauthn-error", "webauthn-result");
  register("passkey-register", "/api/v1/me/2fa/passkey", "passkey-error", "passkey-result");

  var login = document.getElementById("webauthn-login");
  if (login) {
    login.hidden = false;
    login.addEventListener("click", function () {
      var box = document.getElementById("webauthn-error");
      box.hidden = true;
      if (!supported(box)) return;
      post("/api/v1/login/2fa/webauthn/begin")
        .then(function (o) { return navigator.credentials.get({ publicKey: requestOptions(o.publicKey) }); })
        .then(function (c) { return post("/api/v1/login/2fa/webauthn/finish", { credential: credentialJSON(c), next: login.getAttribute("data-next") || "" }); })
        .then(function (res) { window.location = res.next; })
        .catch(function (err) { fail(box, err); });
    });
  }

  // Sign in with a passkey alone: the button, and autofill on the email
  // field (conditional mediation) where the browser offers it. Starting
  // one cancels the other.
  var pk = document.getElementById("passkey-login");
  if (pk && window.PublicKeyCredential) {
    document.getElementById("passkey-signin").hidden = false;
    var pkBox = document.getElementById("passkey-error");
    var waiting = null; // the autofill request, while it waits
    var passkeySignIn = function (conditional) {
      var ctl = new AbortController();
      return post("/api/v1/login/passkey/begin" + (conditional ? "?mediation=conditional" : ""))
        .then(function (o) {
          var req = { publicKey: requestOptions(o.publicKey), signal: ctl.signal };
          if (conditional) { req.mediation = "conditional"; waiting = ctl; }
          return navigator.credentials.get(req);
        })
        .then(function (c) { waiting = null; return post("/api/v1/login/passkey/finish", { credential: credentialJSON(c), next: pk.getAttribute("data-next") || "" }); })
        .then(function (res) { window.location = res.next; });
    };
    pk.addEventListener("click", function () {
      pkBox.hidden = true;
      if (waiting) { waiting.abort(); waiting = null; }
      passkeySignIn(false).catch(function (err) { fail(pkBox, err); });
    });
    if (PublicKeyCredential.isConditionalMediationAvailable && document.querySelector("input[autocomplete~=webauthn]")) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok) return;
        passkeySignIn(true).catch(function (err) { if (err && err.name !== "AbortError") fail(pkBox, err); });
      });
    }
  }
})();
