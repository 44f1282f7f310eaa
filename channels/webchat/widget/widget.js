/* global window, document, localStorage, URL, setTimeout, clearTimeout */
/*
 * Switchboard web chat widget. Embed:
 *   <script>window.SwitchboardChat = { widgetId: 'default', position: 'right', colour: '#2563eb',
 *     locale: 'en', preChat: [{ name: 'order', label: 'Order number' }], userId, userHash };</script>
 *   <script src="https://switchboard.example/widget.js" async></script>
 * Renders in a shadow root. Everything a person typed is rendered with textContent, never as HTML. The
 * conversation token is kept in localStorage, so the conversation survives page loads. Element
 * data-testids are stable (channels/webchat/README.md).
 */
(function () {
  'use strict';
  var settings = window.SwitchboardChat || {};
  var script = document.currentScript;
  var base = script && script.src ? new URL(script.src).origin : window.location.origin;
  var widgetId = settings.widgetId || 'default';
  var tokenKey = 'switchboard-chat:' + widgetId;
  var colour = /^#[0-9a-fA-F]{3,8}$/.test(settings.colour || '') ? settings.colour : '#2563eb';
  var side = settings.position === 'left' ? 'left' : 'right';
  var texts = {
    title: 'Chat with us',
    start: 'Start chat',
    send: 'Send',
    name: 'Name',
    email: 'Email',
    placeholder: 'Type a message',
    typing: 'is typing…',
    offline: 'Nobody is available right now. Leave a message and we will answer by email.',
    leave: 'Leave a message',
    left: 'Thank you: your message was sent. We will get back to you.',
    closed: 'This chat has ended.',
    joined: ' joined the chat',
    end: 'End chat',
    suggested: 'While we find someone, these answers may help:',
    answered: 'This answered my question',
    needPerson: 'I still need a person',
    selfServed: 'Glad that helped. Start a new chat any time.',
    stillWaiting: 'Thanks: a person will be with you shortly.',
  };
  Object.assign(texts, settings.texts || {});

  var host = document.createElement('div');
  document.body.appendChild(host);
  var root = host.attachShadow({ mode: 'open' });
  var style = document.createElement('style');
  style.textContent =
    ':host{all:initial;font:14px system-ui,sans-serif}[hidden]{display:none!important}' +
    '.launcher{position:fixed;bottom:20px;' +
    side +
    ':20px;width:56px;height:56px;border-radius:50%;' +
    'border:0;color:#fff;background:' +
    colour +
    ';cursor:pointer;font-size:24px}' +
    '.panel{position:fixed;bottom:88px;' +
    side +
    ':20px;width:320px;max-height:480px;display:flex;' +
    'flex-direction:column;background:#fff;border:1px solid #ddd;border-radius:8px;overflow:hidden}' +
    '.panel[hidden]{display:none}header{background:' +
    colour +
    ';color:#fff;padding:10px}' +
    '.list{flex:1;overflow-y:auto;padding:8px;min-height:200px}' +
    '.msg{margin:4px 0;padding:6px 8px;border-radius:6px;white-space:pre-wrap;word-break:break-word}' +
    '.visitor{background:#eef;margin-left:40px}.agent{background:#f3f3f3;margin-right:40px}' +
    '.note{color:#666;font-style:italic;margin:4px 0}' +
    '.suggestions{margin:6px 0;padding:6px;border:1px solid #ddd;border-radius:6px;background:#fafafa}' +
    '.suggestion{margin:6px 0}.suggestion strong{display:block}' +
    '.suggestion p{margin:2px 0 4px;white-space:pre-wrap;word-break:break-word}' +
    '.suggestions button{font:inherit;border:1px solid #ccc;background:#fff;border-radius:4px;padding:4px 8px;' +
    'cursor:pointer}form{display:flex;flex-direction:column;gap:6px;padding:8px}' +
    'input,textarea{font:inherit;padding:6px;border:1px solid #ccc;border-radius:4px}' +
    'button.primary{background:' +
    colour +
    ';color:#fff;border:0;padding:8px;border-radius:4px}';
  root.appendChild(style);

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var launcher = el(
    'button',
    { class: 'launcher', 'data-testid': 'sb-launcher', 'aria-label': texts.title },
    '💬',
  );
  var panel = el('div', { class: 'panel', 'data-testid': 'sb-panel', hidden: '' });
  var header = el('header', {}, texts.title);
  var agentName = el('div', { 'data-testid': 'sb-agent-name' });
  var endChat = el('button', { type: 'button', 'data-testid': 'sb-close' }, texts.end);
  header.appendChild(agentName);
  header.appendChild(endChat);
  var list = el('div', { class: 'list', 'data-testid': 'sb-messages', 'aria-live': 'polite' });
  var typing = el('div', { class: 'note', 'data-testid': 'sb-typing', hidden: '' });
  panel.appendChild(header);
  panel.appendChild(list);
  panel.appendChild(typing);
  root.appendChild(launcher);
  root.appendChild(panel);

  function field(form, name, label, type, testid) {
    var input = el(type === 'textarea' ? 'textarea' : 'input', {
      name: name,
      'aria-label': label,
      placeholder: label,
      'data-testid': testid,
    });
    if (type !== 'textarea') input.type = type || 'text';
    form.appendChild(input);
    return input;
  }

  // Pre-chat form: name, email and the site's own fields.
  var preChat = el('form', { 'data-testid': 'sb-prechat' });
  var nameInput = field(preChat, 'name', texts.name, 'text', 'sb-prechat-name');
  var emailInput = field(preChat, 'email', texts.email, 'email', 'sb-prechat-email');
  var extra = (Array.isArray(settings.preChat) ? settings.preChat : []).map(function (f) {
    return { name: f.name, input: field(preChat, f.name, f.label || f.name, 'text', 'sb-prechat-' + f.name) };
  });
  preChat.appendChild(
    el('button', { class: 'primary', type: 'submit', 'data-testid': 'sb-start' }, texts.start),
  );

  // Composer.
  var composer = el('form', { 'data-testid': 'sb-composer', hidden: '' });
  var input = field(composer, 'text', texts.placeholder, 'textarea', 'sb-input');
  composer.appendChild(
    el('button', { class: 'primary', type: 'submit', 'data-testid': 'sb-send' }, texts.send),
  );

  // Leave a message (nobody available, after hours).
  var leave = el('form', { 'data-testid': 'sb-leave-message', hidden: '' });
  leave.appendChild(el('div', { class: 'note' }, texts.offline));
  var leaveEmail = field(leave, 'email', texts.email, 'email', 'sb-leave-email');
  var leaveText = field(leave, 'text', texts.placeholder, 'textarea', 'sb-leave-text');
  leave.appendChild(
    el('button', { class: 'primary', type: 'submit', 'data-testid': 'sb-leave-send' }, texts.leave),
  );

  [preChat, composer, leave].forEach(function (form) {
    panel.appendChild(form);
  });

  function show(form) {
    [preChat, composer, leave].forEach(function (f) {
      f.hidden = f !== form;
    });
  }

  var shown = {};
  function addMessage(message) {
    if (shown[message.id] || (message.clientId && shown[message.clientId])) return;
    shown[message.id] = true;
    if (message.clientId) shown[message.clientId] = true;
    var node = el('div', {
      class: 'msg ' + message.from,
      'data-testid': 'sb-message',
      'data-from': message.from,
    });
    node.textContent = message.text;
    list.appendChild(node);
    list.scrollTop = list.scrollHeight;
  }
  function note(text, testid) {
    list.appendChild(el('div', { class: 'note', 'data-testid': testid || 'sb-note' }, text));
  }
  // Standard answers offered while the visitor waits: each with "this answered my question", and one
  // "I still need a person". The answer is recorded by the server; the chat goes on being routed meanwhile.
  var suggestionsBox = null;
  function hideSuggestions() {
    if (suggestionsBox) suggestionsBox.remove();
    suggestionsBox = null;
  }
  function answerSuggestions(interactionId, replyId) {
    send('suggestions:answer', { interactionId: interactionId, replyId: replyId }, function (answer) {
      hideSuggestions();
      if (!answer.isRecorded) return;
      note(replyId ? texts.selfServed : texts.stillWaiting, replyId ? 'sb-self-served' : 'sb-still-waiting');
    });
  }
  function showSuggestions(offered) {
    hideSuggestions();
    if (!offered || !offered.suggestions.length) return;
    suggestionsBox = el('div', { class: 'suggestions', 'data-testid': 'sb-suggestions' });
    suggestionsBox.appendChild(el('div', { class: 'note' }, texts.suggested));
    offered.suggestions.forEach(function (suggestion) {
      var item = el('div', { class: 'suggestion', 'data-testid': 'sb-suggestion' });
      item.appendChild(el('strong', {}, suggestion.title));
      item.appendChild(el('p', {}, suggestion.text));
      var yes = el('button', { type: 'button', 'data-testid': 'sb-suggestion-yes' }, texts.answered);
      yes.addEventListener('click', function () {
        answerSuggestions(offered.interactionId, suggestion.id);
      });
      item.appendChild(yes);
      suggestionsBox.appendChild(item);
    });
    var no = el('button', { type: 'button', 'data-testid': 'sb-suggestion-no' }, texts.needPerson);
    no.addEventListener('click', function () {
      answerSuggestions(offered.interactionId, null);
    });
    suggestionsBox.appendChild(no);
    list.appendChild(suggestionsBox);
    list.scrollTop = list.scrollHeight;
  }

  function newId() {
    return Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 10);
  }

  var socket = null;
  function connect() {
    var auth = { widgetId: widgetId };
    var token = localStorage.getItem(tokenKey);
    if (token) auth.token = token;
    if (settings.locale) auth.locale = settings.locale;
    if (settings.userId) {
      auth.userId = String(settings.userId);
      auth.userHash = String(settings.userHash || '');
    }
    socket = window.io(base + '/chat', { auth: auth, transports: ['websocket', 'polling'] });
    socket.on('chat:session', function (session) {
      localStorage.setItem(tokenKey, session.token);
      session.messages.forEach(addMessage);
      if (session.agentName) agentName.textContent = session.agentName;
      showSuggestions(session.suggestions);
      show(session.isOpen ? composer : preChat);
    });
    socket.on('answers:suggested', showSuggestions);
    socket.on('message', function (message) {
      if (message.from === 'agent' && message.agentName) agentName.textContent = message.agentName;
      addMessage(message);
    });
    socket.on('agent:joined', function (agent) {
      hideSuggestions();
      agentName.textContent = agent.name;
      note(agent.name + texts.joined, 'sb-agent-joined');
    });
    socket.on('typing', function (t) {
      typing.textContent = (agentName.textContent || '') + ' ' + texts.typing;
      typing.hidden = !t.isTyping;
    });
    socket.on('chat:closed', function (closed) {
      if (closed.message) note(closed.message, 'sb-closed-message');
      note(texts.closed, 'sb-closed');
      hideSuggestions();
      typing.hidden = true;
      show(preChat);
    });
    socket.on('connect_error', function (error) {
      note((error && error.message) || 'Could not connect.', 'sb-error');
    });
  }

  function send(name, payload, onOk) {
    socket.emit(name, payload, function (answer) {
      if (answer && answer.ok) {
        if (onOk) onOk(answer);
      } else note((answer && answer.error && answer.error.message) || 'Something went wrong.', 'sb-error');
    });
  }

  preChat.addEventListener('submit', function (event) {
    event.preventDefault();
    var fields = {};
    extra.forEach(function (f) {
      if (f.input.value) fields[f.name] = f.input.value;
    });
    var payload = { fields: fields };
    if (nameInput.value) payload.name = nameInput.value;
    if (emailInput.value) payload.email = emailInput.value;
    send('chat:start', payload, function (answer) {
      if (answer.isOffline) {
        leaveEmail.value = emailInput.value;
        show(leave);
      } else show(composer);
    });
  });

  composer.addEventListener('submit', function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    var clientId = newId();
    input.value = '';
    addMessage({ id: clientId, clientId: clientId, from: 'visitor', text: text });
    send('message:send', { clientId: clientId, text: text });
  });

  var typingTimer = null;
  input.addEventListener('input', function () {
    if (!typingTimer) socket.emit('typing', { isTyping: true });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () {
      typingTimer = null;
      socket.emit('typing', { isTyping: false });
    }, 1500);
  });

  leave.addEventListener('submit', function (event) {
    event.preventDefault();
    var payload = { clientId: newId(), text: leaveText.value.trim() };
    if (!payload.text) return;
    if (leaveEmail.value) payload.email = leaveEmail.value;
    if (nameInput.value) payload.name = nameInput.value;
    send('message:leave', payload, function () {
      leave.hidden = true;
      note(texts.left, 'sb-left-confirmation');
    });
  });

  endChat.addEventListener('click', function () {
    send('chat:close', {});
  });

  launcher.addEventListener('click', function () {
    panel.hidden = !panel.hidden;
  });

  // The socket.io client, from this server, once.
  if (window.io) connect();
  else {
    var loader = document.createElement('script');
    loader.src = base + '/chat/socket.io.min.js';
    loader.onload = connect;
    document.head.appendChild(loader);
  }
})();
