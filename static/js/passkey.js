/* Passkeys for Belay: the only script on the pages (CSP script-src 'self').
 *
 * Each element with data-passkey="login" | "step-up" | "register" carries its
 * JSON endpoints (data-options-url, data-verify-url), the authorization
 * transaction (data-tx) and the CSRF token (data-csrf). Without JavaScript the
 * passkey buttons stay hidden and every other form works as before.
 */
(function () {
  "use strict";

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromBase64url(value) {
    var base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var text = atob(base64);
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes.buffer;
  }

  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = fromBase64url(json.challenge);
    options.user = Object.assign({}, json.user, { id: fromBase64url(json.user.id) });
    options.excludeCredentials = (json.excludeCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: fromBase64url(c.id) });
    });
    return options;
  }

  function requestOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = fromBase64url(json.challenge);
    options.allowCredentials = (json.allowCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: fromBase64url(c.id) });
    });
    return options;
  }

  function credentialJSON(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      out.response.attestationObject = toBase64url(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      out.response.authenticatorData = toBase64url(response.authenticatorData);
      out.response.signature = toBase64url(response.signature);
      if (response.userHandle) out.response.userHandle = toBase64url(response.userHandle);
    }
    return out;
  }

  function explain(error) {
    if (error && error.name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out. Try again when you are ready.";
    }
    if (error && error.name === "InvalidStateError") {
      return "This passkey is already registered for your account.";
    }
    if (error && error.name === "SecurityError") {
      return "Passkeys are not allowed on this address.";
    }
    if (error && error.name === "AbortError") {
      return "The passkey request was cancelled.";
    }
    return (error && error.message) || "Something went wrong with the passkey. Try again.";
  }

  function post(box, url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": box.dataset.csrf || "" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var failure = new Error(data.error_description || "The server refused the passkey.");
          failure.name = "ServerError";
          throw failure;
        }
        return data;
      });
    });
  }

  // Where the server says to go next (the account page after a new passkey).
  // A URL that differs from this one only by its #fragment would not load
  // the page again: move to the fragment, then reload.
  function go(redirect) {
    var target = new URL(redirect || window.location.href, window.location.href);
    var here = window.location;
    if (target.origin === here.origin && target.pathname === here.pathname &&
        target.search === here.search) {
      if (target.hash !== here.hash) here.hash = target.hash;
      here.reload();
    } else {
      here.assign(target.href);
    }
  }

  function setup(box) {
    var kind = box.dataset.passkey;
    var button = box.querySelector("button");
    var message = box.querySelector("[data-passkey-error]");
    var status = box.querySelector("[data-passkey-status]");
    // Sign-in: the browser's own autofill of the username field offers the
    // passkeys (WebAuthn conditional mediation); the button still works, and
    // aborts that quiet request first (one WebAuthn request at a time).
    var quiet = null;

    // The page's language: the box carries this script's texts translated, by
    // their English words (data-messages; provider/web/i18n.py PASSKEY_MESSAGES).
    var words = {};
    try { words = JSON.parse(box.dataset.messages || "{}"); } catch (ignored) { words = {}; }

    function t(text) {
      return (text && Object.prototype.hasOwnProperty.call(words, text)) ? words[text] : text;
    }

    function show(text) {
      message.textContent = t(text);
      message.hidden = !text;
    }

    function say(text) {
      // aria-live: a screen reader hears that the browser's prompt is open.
      if (status) status.textContent = t(text);
    }

    function finish(credential, tx) {
      if (!credential) throw new Error("No passkey was chosen.");
      var body = { credential: credentialJSON(credential), tx: tx };
      if (kind === "register") {
        var nameInput = document.getElementById("passkey-name");
        body.name = nameInput ? nameInput.value : "";
      }
      var remember = box.querySelector("input[name=remember_device]");
      if (remember && remember.checked) body.remember_device = true;
      say("Checking your passkey…");
      return post(box, box.dataset.verifyUrl, body).then(function (result) {
        go(result.redirect);
      });
    }

    function autofill() {
      var tx = box.dataset.tx || "";
      var controller = new AbortController();
      quiet = controller;
      post(box, box.dataset.optionsUrl, { tx: tx })
        .then(function (json) {
          if (controller.signal.aborted) return null;
          return navigator.credentials.get({
            mediation: "conditional",
            publicKey: requestOptions(json),
            signal: controller.signal
          }).then(function (credential) {
            if (controller.signal.aborted) return null;
            return finish(credential, tx);
          });
        })
        .catch(function (error) {
          if (controller.signal.aborted || (error && error.name === "AbortError")) return;
          say("");
          show(explain(error));
        });
    }

    if (!button) return;
    button.hidden = false;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      button.disabled = true;
      show("This browser does not support passkeys. Use another way to sign in.");
      return;
    }
    button.disabled = false;
    if (button.hasAttribute("data-autofocus")) {
      var active = document.activeElement;
      if (!active || active === document.body) button.focus();
    }
    if (
      kind === "login" &&
      document.querySelector("input[autocomplete~=webauthn]") &&
      typeof PublicKeyCredential.isConditionalMediationAvailable === "function" &&
      typeof AbortController === "function"
    ) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (available) autofill();
      }).catch(function () { /* no autofill: the button stays */ });
    }

    button.addEventListener("click", function () {
      var tx = box.dataset.tx || "";
      if (quiet) {
        quiet.abort();
        quiet = null;
      }
      button.disabled = true;
      show("");
      say("Waiting for your passkey…");
      post(box, box.dataset.optionsUrl, { tx: tx })
        .then(function (json) {
          if (kind === "register") {
            return navigator.credentials.create({ publicKey: creationOptions(json) });
          }
          return navigator.credentials.get({ publicKey: requestOptions(json) });
        })
        .then(function (credential) {
          return finish(credential, tx);
        })
        .catch(function (error) {
          say("");
          show(explain(error));
          button.disabled = false;
        });
    });
  }

  function start() {
    var boxes = document.querySelectorAll("[data-passkey]");
    for (var i = 0; i < boxes.length; i++) setup(boxes[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
