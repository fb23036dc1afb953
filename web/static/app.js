// MedForge web UI: the little JavaScript the pages need.
//
// - form[data-api]: sends the form to the /api/v2 endpoint named there
//   (JSON, or multipart with an upload progress bar when it has a file
//   input), shows problem+json errors next to their fields, and on success
//   does what data-success says.
// - [data-refresh]: re-fetches a fragment of the page every data-refresh-ms
//   and swaps it in, until the server sends one without data-refresh.
// The browser adds Origin to these requests itself; the API checks it, so
// there is no token to manage here.
"use strict";

(function () {
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  function clearErrors(form) {
    var box = $(".form-error", form);
    if (box) { box.hidden = true; box.textContent = ""; }
    $all("[aria-invalid]", form).forEach(function (el) { el.removeAttribute("aria-invalid"); });
    $all(".field-error", form).forEach(function (el) { el.textContent = ""; });
    var ok = $(".form-ok", form);
    if (ok) { ok.textContent = ""; }
  }

  function showProblem(form, status, p) {
    var box = $(".form-error", form);
    var detail = (p && p.detail) || ("The request failed (HTTP " + status + ").");
    var unplaced = [];
    var firstBad = null;
    var fileProblems = 0;
    var up = $(".upload", form);
    if (up) { up.hidden = true; }
    ((p && p.errors) || []).forEach(function (fe) {
      var input = form.elements[fe.field];
      var slot = document.getElementById(form.id + "-" + fe.field + "-error");
      if (input && input.setAttribute && slot && input.type === "file") {
        // A rejected file can have many row/column problems: list them in
        // the alert and point there from the field.
        input.setAttribute("aria-invalid", "true");
        fileProblems++;
        slot.textContent = fileProblems === 1 ? "The file has a problem, listed above." : "The file has " + fileProblems + " problems, listed above.";
        firstBad = firstBad || input;
        unplaced.push(fe.message);
      } else if (input && input.setAttribute && slot) {
        input.setAttribute("aria-invalid", "true");
        slot.textContent = slot.textContent ? slot.textContent + " " + fe.message : fe.message;
        firstBad = firstBad || input;
      } else {
        unplaced.push((fe.field ? fe.field + ": " : "") + fe.message);
      }
    });
    if (status === 401) { detail += " Sign in again to continue."; }
    if (status === 429 && p && p.code === "too_many_attempts") { detail += " Wait a little before trying again."; }
    if (box) {
      box.textContent = "";
      var strong = document.createElement("p");
      strong.textContent = detail;
      box.appendChild(strong);
      if (unplaced.length) {
        var ul = document.createElement("ul");
        unplaced.slice(0, 20).forEach(function (m) {
          var li = document.createElement("li");
          li.textContent = m;
          ul.appendChild(li);
        });
        if (unplaced.length > 20) {
          var more = document.createElement("li");
          more.textContent = "… and " + (unplaced.length - 20) + " more";
          ul.appendChild(more);
        }
        box.appendChild(ul);
      }
      box.hidden = false;
    } else {
      window.alert(detail);
    }
    if (firstBad && firstBad.focus) { firstBad.focus(); }
  }

  function formJSON(form) {
    var out = {};
    $all("input, select, textarea", form).forEach(function (el) {
      if (!el.name || el.disabled || el.hasAttribute("data-path-only")) { return; }
      if (el.type === "checkbox") { out[el.name] = el.checked; return; }
      if (el.hasAttribute("data-json")) {
        try { out[el.name] = JSON.parse(el.value); } catch (err) { out[el.name] = el.value; }
        return;
      }
      if (el.type === "number") { if (el.value !== "") { out[el.name] = Number(el.value); } return; }
      if (el.type === "file" || el.type === "submit") { return; }
      out[el.name] = el.value;
    });
    return out;
  }

  function apiURL(form) {
    var url = form.getAttribute("data-api");
    var tpl = form.getAttribute("data-api-template");
    if (tpl) {
      url = tpl.replace(/\{(\w+)\}/g, function (_, name) {
        return encodeURIComponent(form.elements[name] ? form.elements[name].value : "");
      });
    }
    return url;
  }

  // send performs the request and resolves {status, body}.
  function send(form, method, url) {
    var hasFile = !!$("input[type=file]", form);
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("Accept", "application/json");
      var progress = $("progress", $(".upload", form) || document.createElement("div"));
      var pct = $(".upload .pct", form);
      if (hasFile && progress) {
        $(".upload", form).hidden = false;
        progress.value = 0;
        xhr.upload.onprogress = function (e) {
          if (e.lengthComputable) {
            var v = Math.round(e.loaded * 100 / e.total);
            progress.value = v;
            progress.textContent = v + "%";
            if (pct) { pct.textContent = v + "%"; }
          }
        };
      }
      xhr.onload = function () {
        var body = null;
        try { body = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch (e) { body = null; }
        resolve({ status: xhr.status, body: body });
      };
      xhr.onerror = function () { reject(new Error("network")); };
      if (hasFile) {
        xhr.send(new FormData(form));
      } else if (method === "GET" || method === "DELETE" || form.hasAttribute("data-api-template")) {
        xhr.send();
      } else {
        xhr.setRequestHeader("Content-Type", "application/json");
        xhr.send(JSON.stringify(formJSON(form)));
      }
    });
  }

  function announce(text) {
    var a = $("#announce");
    if (a && text) { a.textContent = text; }
  }

  function onSuccess(form, res) {
    var how = form.getAttribute("data-success") || "reload";
    var data = res.body && res.body.data;
    var ok = $(".form-ok", form);
    if (res.status === 202 && data && data.pending && data.job) {
      // The module runs in a scoring worker that has not finished yet
      // (scorer validation, certification): nothing changed so far.
      var wait = "A scoring worker is running the module (" + data.job.kind + " job #" + data.job.id + ", " + data.job.status + "). Send the same request again in a moment to see the result.";
      if (ok) { ok.textContent = wait; }
      announce(wait);
      return;
    }
    if (how.indexOf("redirect:") === 0) { window.location.assign(how.slice(9) || "/"); return; }
    if (how.indexOf("redirect-data:") === 0) {
      window.location.assign(how.slice(14).replace(/\{(\w+)\}/g, function (_, k) { return encodeURIComponent((data && data[k]) || ""); }));
      return;
    }
    if (how.indexOf("refresh:") === 0) {
      if (data && data.submission) {
        var msg = "Submission #" + data.submission.id + " received; " + data.remaining_today + " of " + data.daily_cap + " left today. Scoring now.";
        if (ok) { ok.textContent = msg; }
        announce(msg);
      }
      var fileInput = $("input[type=file]", form);
      if (fileInput) { fileInput.value = ""; }
      var up = $(".upload", form);
      if (up) { setTimeout(function () { up.hidden = true; }, 800); }
      refresh(document.getElementById(how.slice(8)), true);
      return;
    }
    if (how === "saved") { if (ok) { ok.textContent = "Saved."; } announce("Saved."); return; }
    if (how === "show-token") {
      var box = $("#token-secret");
      $("#token-value").value = data.token;
      $all(".token-inline", box).forEach(function (el) { el.textContent = data.token; });
      form.hidden = true;
      box.hidden = false;
      box.focus();
      return;
    }
    if (how === "show-result") {
      var out = $("output.result", form);
      if (out && data) {
        out.textContent = "Submission #" + data.id + ": " + data.status + (data.primary_score != null ? ", score " + Number(data.primary_score).toFixed(4) : "") + (data.error ? " (" + data.error + ")" : "");
      }
      return;
    }
    if (how === "scorer-report") { showReport(data); refresh(document.getElementById("live"), true); return; }
    window.location.reload();
  }

  function showReport(up) {
    var box = $("#scorer-report");
    if (!box || !up) { return; }
    box.textContent = "";
    var h = document.createElement("h3");
    var r = up.validation_report || {};
    h.textContent = "Validation report: " + (r.ok ? "passed" : "failed") + " — " + up.name + " " + up.version;
    box.appendChild(h);
    var p = document.createElement("p");
    p.textContent = "Digest " + (up.digest || r.digest || "") + ", ABI " + (r.abi_version || "?") + (r.sample_score != null ? ", sample score " + Number(r.sample_score).toFixed(4) : "") + (up.rescore ? ", rescore job #" + up.rescore.id + " started" : "");
    box.appendChild(p);
    var ul = document.createElement("ul");
    (r.checks || []).forEach(function (c) {
      var li = document.createElement("li");
      li.textContent = (c.ok ? "✓ " : "✗ ") + c.name + (c.detail ? ": " + c.detail : "");
      li.className = c.ok ? "ok" : "bad";
      ul.appendChild(li);
    });
    box.appendChild(ul);
    box.hidden = false;
    box.focus();
  }

  function submitForm(e) {
    var form = e.target;
    if (!form.matches || !form.matches("form[data-api], form[data-api-template]")) { return; }
    e.preventDefault();
    var confirmText = form.getAttribute("data-confirm");
    if (confirmText && !window.confirm(confirmText)) { return; }
    clearErrors(form);
    var buttons = $all("button", form);
    buttons.forEach(function (b) { b.disabled = true; b.setAttribute("aria-busy", "true"); });
    var method = (form.getAttribute("data-method") || "POST").toUpperCase();
    var done = function () { buttons.forEach(function (b) { b.disabled = false; b.removeAttribute("aria-busy"); }); };
    send(form, method, apiURL(form)).then(function (res) {
      var how = form.getAttribute("data-success") || "";
      if (res.status >= 200 && res.status < 300 && how.indexOf("login-then:") === 0) {
        // Sign-up answers the same whether or not the email existed; sign in
        // with the same credentials to find out and to get the cookie.
        var body = formJSON(form);
        var xhr = new XMLHttpRequest();
        xhr.open("POST", "/api/v2/auth/login");
        xhr.setRequestHeader("Content-Type", "application/json");
        xhr.setRequestHeader("Accept", "application/json");
        xhr.onload = function () {
          done();
          if (xhr.status === 200) { window.location.assign(how.slice(11) || "/"); return; }
          var p = null;
          try { p = JSON.parse(xhr.responseText); } catch (err) { p = null; }
          if (p && p.code === "invalid_credentials") {
            p.detail = "This email already has an account with another password. Sign in instead, or use another email.";
          }
          showProblem(form, xhr.status, p);
        };
        xhr.onerror = function () { done(); showProblem(form, 0, { detail: "Could not reach MedForge. Check your connection and try again." }); };
        xhr.send(JSON.stringify({ email: body.email, password: body.password }));
        return;
      }
      done();
      if (res.status >= 200 && res.status < 300) { onSuccess(form, res); return; }
      showProblem(form, res.status, res.body);
    }, function () {
      done();
      showProblem(form, 0, { detail: "Could not reach MedForge. Check your connection and try again." });
    });
  }

  var timers = {};

  // refresh fetches el's fragment and swaps it in; with now it runs at once
  // even when el is not polling (after a form changed what it shows).
  function refresh(el, now) {
    if (!el) { return; }
    var id = el.id;
    var url = el.getAttribute("data-refresh") || (window.location.pathname + "?partial=" + id);
    clearTimeout(timers[id]);
    var run = function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      }).then(function (html) {
        var tmp = document.createElement("div");
        tmp.innerHTML = html;
        var fresh = tmp.querySelector("#" + id);
        var cur = document.getElementById(id);
        if (!fresh || !cur) { return; }
        var active = document.activeElement && cur.contains(document.activeElement) ? document.activeElement.id : null;
        var before = cur.getAttribute("data-announce");
        cur.replaceWith(fresh);
        if (active && document.getElementById(active)) { document.getElementById(active).focus(); }
        if (fresh.getAttribute("data-announce") && fresh.getAttribute("data-announce") !== before) {
          announce(fresh.getAttribute("data-announce"));
        }
        schedule(fresh);
      }).catch(function () {
        // Keep polling slowly through a hiccup.
        timers[id] = setTimeout(run, 5000);
      });
    };
    if (now) { run(); } else { timers[id] = setTimeout(run, Number(el.getAttribute("data-refresh-ms")) || 2000); }
  }

  function schedule(el) {
    if (el && el.hasAttribute("data-refresh")) { refresh(el, false); }
  }

  document.addEventListener("submit", submitForm);
  document.addEventListener("DOMContentLoaded", function () {
    $all("[data-refresh]").forEach(schedule);
  });
})();
