// veto console: the only script the console runs, served from /ui/static/console.js
// (the Content-Security-Policy allows no inline script). Every page works without
// it; with it:
// - the overview updates live from /ui/events (Server-Sent Events),
// - a form with data-confirm asks before it is sent (lifting a rule),
// - the revoke form shows only the fields that apply to the chosen kind,
// - a message left by the previous request is announced by screen readers.
// Text from the server is only ever set with textContent, never parsed as HTML.
"use strict";

(function () {
  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) {
          event.preventDefault();
        }
      });
    });
  }

  function revokeFields() {
    var form = document.getElementById("revoke-form");
    if (!form) {
      return;
    }
    var kind = form.querySelector("#revoke-kind");
    function update() {
      form.querySelectorAll("[data-kinds]").forEach(function (part) {
        var applies = part.dataset.kinds.split(" ").indexOf(kind.value) >= 0;
        part.hidden = !applies;
        part.querySelectorAll("input").forEach(function (input) {
          input.disabled = !applies;
        });
      });
    }
    kind.addEventListener("change", update);
    update();
  }

  // A message present at page load is not announced by every screen reader: put it
  // into its live region again once the page has settled.
  function announce() {
    ["status", "alert"].forEach(function (id) {
      var region = document.getElementById(id);
      if (!region || !region.firstElementChild) {
        return;
      }
      var message = region.firstElementChild;
      region.removeChild(message);
      window.setTimeout(function () {
        region.appendChild(message);
      }, 250);
    });
  }

  function liveOverview() {
    var list = document.getElementById("live-events");
    if (!list || !window.EventSource) {
      return;
    }
    var empty = document.getElementById("no-events");
    var status = document.getElementById("status");
    var source = new EventSource("/ui/events");
    source.addEventListener("open", function () {
      list.dataset.connected = "true";
    });
    source.addEventListener("change", function (event) {
      var change = JSON.parse(event.data);
      var item = document.createElement("li");
      item.dataset.sequence = String(change.sequence);
      item.textContent = change.text;
      list.insertBefore(item, list.firstChild);
      while (list.children.length > 50) {
        list.removeChild(list.lastChild);
      }
      if (empty) {
        empty.hidden = true;
      }
    });
    source.addEventListener("status", function (event) {
      var figures = JSON.parse(event.data);
      Object.keys(figures).forEach(function (name) {
        document.querySelectorAll('[data-field="' + name + '"]').forEach(function (field) {
          field.textContent = figures[name];
        });
      });
    });
    source.addEventListener("lagged", function () {
      status.textContent = "Some changes were missed: reload the page to see them all.";
    });
    source.addEventListener("end", function () {
      source.close();
      status.textContent = "Your session has ended: live updates stopped. Reload to sign in again.";
    });
  }

  function start() {
    confirmations();
    revokeFields();
    announce();
    liveOverview();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
