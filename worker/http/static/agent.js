// The agent page: status toggle, open tickets, live toasts. Plain JS, no build step, no third-party code.
// Every call carries the page's own agent-link token: fetch in the Authorization header, EventSource in the
// query (it cannot send headers). The server checks it on every call.
(function () {
  "use strict";
  var token = new URLSearchParams(window.location.search).get("token") || "";
  var account = document.body.getAttribute("data-account");
  var user = document.body.getAttribute("data-user");
  var TOAST_MS = 30000;

  function $(id) { return document.getElementById(id); }

  function call(method, path, body) {
    var options = { method: method, headers: { "Authorization": "Bearer " + token } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (answer) {
      return answer.json().then(function (json) {
        if (!answer.ok) { throw new Error(json.error || ("HTTP " + answer.status)); }
        return json;
      });
    });
  }

  function showStatus(status, canBeOnline) {
    var shown = $("status");
    shown.textContent = status === "online" ? "Online" : "Offline";
    shown.className = status;
    ["go-online", "go-offline"].forEach(function (id) {
      var button = $(id);
      button.setAttribute("aria-pressed", String(button.getAttribute("data-status") === status));
      button.disabled = !canBeOnline;
    });
    document.body.setAttribute("data-status", status);
  }

  function note(text) {
    var box = $("status-note");
    box.textContent = text || "";
    box.hidden = !text;
  }

  function showTickets(open) {
    var list = $("tickets");
    list.textContent = "";
    open.tickets.forEach(function (ticket) {
      var item = document.createElement("li");
      var id = document.createElement("span");
      id.className = "ticket";
      id.textContent = ticket.ticket_id;
      var channel = document.createElement("span");
      channel.className = "channel";
      channel.textContent = ticket.channel;
      item.appendChild(id);
      item.appendChild(channel);
      list.appendChild(item);
    });
    $("ticket-count").textContent = "(" + open.load + ")";
    $("no-tickets").hidden = open.load !== 0;
    var partial = $("tickets-partial");
    partial.hidden = open.complete;
    partial.textContent = open.complete ? "" :
      (open.load - open.tickets.length) + " more were assigned before the retained history.";
  }

  function refresh() {
    return call("GET", "/v1/agent/me").then(function (me) {
      showStatus(me.status, me.can_be_online);
      showTickets(me.open_tickets);
      if (!me.can_be_online) { note("Your role (" + me.role + ") cannot go Online."); }
    }).catch(function (error) { note(error.message); });
  }

  function setStatus(status) {
    note("");
    call("POST", "/v1/agent/status", { status: status }).then(function (answer) {
      showStatus(answer.status, true);
    }).catch(function (error) { note(error.message); });
  }

  function showToast(toast) {
    var item = document.createElement("li");
    item.className = "toast";
    item.setAttribute("data-event-id", toast.id);
    item.textContent = toast.text;
    var ids = document.createElement("span");
    ids.className = "ids";
    ids.textContent = toast.ticket_ids.join(", ");
    item.appendChild(ids);
    $("toasts").appendChild(item);
    window.setTimeout(function () { item.remove(); }, TOAST_MS);
  }

  function listen() {
    var path = "/v1/accounts/" + encodeURIComponent(account) + "/users/" + encodeURIComponent(user) +
      "/toasts?token=" + encodeURIComponent(token);
    var source = new EventSource(path);
    var live = $("live");
    source.addEventListener("ready", function () {
      live.textContent = "Live";
      live.className = "live ok";
    });
    source.addEventListener("toast", function (message) {
      showToast(JSON.parse(message.data));
      refresh();
    });
    source.onerror = function () {
      var closed = source.readyState === EventSource.CLOSED;
      live.textContent = closed ? "Disconnected: reload the page (the link may have expired)" : "Reconnecting…";
      live.className = "live down";
    };
  }

  $("go-online").addEventListener("click", function () { setStatus("online"); });
  $("go-offline").addEventListener("click", function () { setStatus("offline"); });
  refresh().then(listen);
})();
