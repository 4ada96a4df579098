// The proof-of-work step-up of credential forms (gateway/stepup.py): before a POST form leaves, ask the gateway
// whether this address must prove some work; if so, solve its ALTCHA v1 challenge (SHA-256) here and send the
// solution as the single-use cookie polis_pow. Included by IAM's login, registration and recovery pages.
(function () {
  "use strict";
  var script = document.currentScript;
  var endpoint = (script && script.dataset.endpoint) || "/sicurezza/verifica";
  var working = (script && script.dataset.working) || "";

  function hex(buffer) {
    var bytes = new Uint8Array(buffer);
    var out = "";
    for (var i = 0; i < bytes.length; i += 1) {
      out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    }
    return out;
  }

  // Digests are asked for in batches: one await per number would spend most of the time between promises.
  async function solve(challenge) {
    var encoder = new TextEncoder();
    var batch = 1000;
    for (var start = 0; start <= challenge.maxNumber; start += batch) {
      var pending = [];
      for (var number = start; number < start + batch && number <= challenge.maxNumber; number += 1) {
        pending.push(crypto.subtle.digest("SHA-256", encoder.encode(challenge.salt + number)));
      }
      var digests = await Promise.all(pending);
      for (var i = 0; i < digests.length; i += 1) {
        if (hex(digests[i]) === challenge.challenge) {
          return start + i;
        }
      }
    }
    return null;
  }

  function status(form, text) {
    var line = form.querySelector("[data-step-up-status]");
    if (!line) {
      line = document.createElement("p");
      line.setAttribute("role", "status");
      line.setAttribute("data-step-up-status", "");
      line.className = "small text-muted mt-2";
      form.appendChild(line);
    }
    line.textContent = text;
  }

  async function prove(form) {
    var path = new URL(form.action, location.href).pathname;
    var answer = await fetch(endpoint + "?path=" + encodeURIComponent(path), {
      credentials: "same-origin",
      cache: "no-store"
    });
    if (!answer.ok) {
      return; // the gateway decides on the POST: at worst it answers with the way back to the form
    }
    var body = await answer.json();
    if (!body.required || !body.challenge || !window.crypto || !crypto.subtle) {
      return;
    }
    if (working) {
      status(form, working);
    }
    var challenge = body.challenge;
    var number = await solve(challenge);
    if (number === null) {
      return;
    }
    var payload = btoa(JSON.stringify({
      algorithm: challenge.algorithm,
      challenge: challenge.challenge,
      number: number,
      salt: challenge.salt,
      signature: challenge.signature
    }));
    var secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = "polis_pow=" + payload + "; Path=/; Max-Age=" + 300 + "; SameSite=Strict" + secure;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || (form.method || "").toLowerCase() !== "post") {
      return;
    }
    if (form.dataset.stepUpChecked === "1") {
      form.dataset.stepUpChecked = "";
      return; // the second pass, after the check: let it go
    }
    event.preventDefault();
    var submitter = event.submitter || null;
    prove(form)
      .catch(function () {})
      .then(function () {
        form.dataset.stepUpChecked = "1";
        if (form.requestSubmit) {
          form.requestSubmit(submitter);
        } else {
          form.submit();
        }
      });
  }, true);
})();
