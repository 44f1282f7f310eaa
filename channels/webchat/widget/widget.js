/* global window, document, localStorage, URL, URLSearchParams, FormData, fetch, setTimeout, clearTimeout */
/*
 * Switchboard web chat widget. Embed:
 *   <script>window.SwitchboardChat = { widgetId: 'default', position: 'right', colour: '#2563eb',
 *     locale: 'en', preChat: [{ name: 'order', label: 'Order number' }], userId, userHash };</script>
 *   <script src="https://switchboard.example/widget.js" async></script>
 * Renders in a shadow root. Everything a person typed is rendered with textContent, never as HTML. The
 * conversation token is kept in localStorage, so the conversation survives page loads. Element
 * data-testids are stable (channels/webchat/README.md). Images (the paperclip, a paste or a drop) are
 * uploaded over HTTP with the conversation token and shown from blob URLs fetched the same way.
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
    attach: 'Send an image',
    sendingImage: 'Sending image…',
    imageTooLarge: 'This image is too large to send.',
    imageFailed: 'The image could not be sent.',
  };
  // Built-in translations by language (`locale` 'de-AT' uses 'de'); the embedder's `texts` win over both.
  var translations = {
    de: {
      title: 'Chatten Sie mit uns',
      start: 'Chat starten',
      send: 'Senden',
      name: 'Name',
      email: 'E-Mail',
      placeholder: 'Nachricht eingeben',
      typing: 'schreibt…',
      offline: 'Gerade ist niemand erreichbar. Hinterlassen Sie eine Nachricht, wir antworten per E-Mail.',
      leave: 'Nachricht hinterlassen',
      left: 'Danke, Ihre Nachricht wurde gesendet. Wir melden uns bei Ihnen.',
      closed: 'Dieser Chat ist beendet.',
      joined: ' ist dem Chat beigetreten',
      end: 'Chat beenden',
      suggested: 'Während wir jemanden suchen, helfen vielleicht diese Antworten:',
      answered: 'Das hat meine Frage beantwortet',
      needPerson: 'Ich brauche trotzdem eine Person',
      selfServed: 'Schön, dass es geholfen hat. Sie können jederzeit einen neuen Chat starten.',
      stillWaiting: 'Danke, gleich ist jemand für Sie da.',
      attach: 'Bild senden',
      sendingImage: 'Bild wird gesendet…',
      imageTooLarge: 'Dieses Bild ist zu groß.',
      imageFailed: 'Das Bild konnte nicht gesendet werden.',
    },
    fr: {
      title: 'Discutez avec nous',
      start: 'Démarrer la discussion',
      send: 'Envoyer',
      name: 'Nom',
      email: 'E-mail',
      placeholder: 'Écrivez un message',
      typing: 'écrit…',
      offline: "Personne n'est disponible pour le moment. Laissez un message, nous répondrons par e-mail.",
      leave: 'Laisser un message',
      left: 'Merci, votre message a été envoyé. Nous reviendrons vers vous.',
      closed: 'Cette discussion est terminée.',
      joined: ' a rejoint la discussion',
      end: 'Terminer la discussion',
      suggested: 'Pendant que nous cherchons quelqu’un, ces réponses peuvent aider :',
      answered: 'Cela a répondu à ma question',
      needPerson: "J'ai encore besoin d'une personne",
      selfServed: 'Ravis d’avoir pu aider. Vous pouvez démarrer une nouvelle discussion à tout moment.',
      stillWaiting: 'Merci, une personne va vous répondre sous peu.',
      attach: 'Envoyer une image',
      sendingImage: 'Envoi de l’image…',
      imageTooLarge: 'Cette image est trop lourde.',
      imageFailed: "L'image n'a pas pu être envoyée.",
    },
    es: {
      title: 'Chatea con nosotros',
      start: 'Iniciar chat',
      send: 'Enviar',
      name: 'Nombre',
      email: 'Correo electrónico',
      placeholder: 'Escribe un mensaje',
      typing: 'está escribiendo…',
      offline: 'No hay nadie disponible ahora. Deja un mensaje y te responderemos por correo electrónico.',
      leave: 'Dejar un mensaje',
      left: 'Gracias, tu mensaje se ha enviado. Te responderemos pronto.',
      closed: 'Este chat ha terminado.',
      joined: ' se ha unido al chat',
      end: 'Terminar chat',
      suggested: 'Mientras buscamos a alguien, estas respuestas pueden ayudarte:',
      answered: 'Esto respondió a mi pregunta',
      needPerson: 'Todavía necesito a una persona',
      selfServed: 'Nos alegra haber ayudado. Puedes iniciar un nuevo chat cuando quieras.',
      stillWaiting: 'Gracias, una persona te atenderá en breve.',
      attach: 'Enviar una imagen',
      sendingImage: 'Enviando imagen…',
      imageTooLarge: 'Esta imagen es demasiado grande.',
      imageFailed: 'No se pudo enviar la imagen.',
    },
  };
  var language = String(settings.locale || 'en')
    .toLowerCase()
    .split(/[-_]/)[0];
  Object.assign(texts, translations[language] || {}, settings.texts || {});

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
    ';color:#fff;border:0;padding:8px;border-radius:4px}' +
    '.msg img{display:block;max-width:100%;max-height:200px;margin-top:4px;border-radius:4px}' +
    '.composer-actions{display:flex;gap:6px}.composer-actions .primary{flex:1}' +
    '.attach{border:1px solid #ccc;background:#fff;border-radius:4px;padding:0 10px;cursor:pointer;' +
    'font-size:16px}';
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
  var composerActions = el('div', { class: 'composer-actions' });
  var attach = el(
    'button',
    {
      class: 'attach',
      type: 'button',
      'data-testid': 'sb-attach',
      'aria-label': texts.attach,
      title: texts.attach,
    },
    '📎',
  );
  var fileInput = el('input', {
    type: 'file',
    accept: 'image/png,image/jpeg,image/gif,image/webp',
    'data-testid': 'sb-file',
    hidden: '',
  });
  composerActions.appendChild(attach);
  composerActions.appendChild(fileInput);
  composerActions.appendChild(
    el('button', { class: 'primary', type: 'submit', 'data-testid': 'sb-send' }, texts.send),
  );
  composer.appendChild(composerActions);

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
    (message.attachments || []).forEach(function (attachment) {
      showImage(node, attachment);
    });
    list.appendChild(node);
    list.scrollTop = list.scrollHeight;
    return node;
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

  // --- images -------------------------------------------------------------------------------------------
  var chatToken = null;
  var imageLimits = null;

  /** The query that names this visitor to the image routes (the token goes in a header). */
  function visitorQuery(extra) {
    var params = new URLSearchParams(extra || {});
    params.set('widgetId', widgetId);
    if (settings.userId) {
      params.set('userId', String(settings.userId));
      params.set('userHash', String(settings.userHash || ''));
    }
    return params.toString();
  }

  /** An image of the conversation, fetched with the token and shown from a blob URL; a click opens it. */
  function showImage(node, attachment) {
    var link = el('a', { target: '_blank', rel: 'noopener', 'data-testid': 'sb-image-link' });
    var image = el('img', { alt: attachment.fileName, 'data-testid': 'sb-image' });
    link.appendChild(image);
    node.appendChild(link);
    fetch(base + attachment.url + '?' + visitorQuery(), { headers: { authorization: 'Bearer ' + chatToken } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.blob();
      })
      .then(function (blob) {
        var url = URL.createObjectURL(blob);
        image.src = url;
        link.href = url;
        list.scrollTop = list.scrollHeight;
      })
      .catch(function () {
        link.replaceWith(el('span', { class: 'note' }, attachment.fileName));
      });
  }

  /**
   * Uploads one image as a message. The server decides what is an image (by its bytes) and refuses with a
   * message that is shown; a refusal leaves the rest of the chat, and what is typed, as it was.
   */
  function sendImage(file) {
    if (!chatToken || composer.hidden) return;
    if (imageLimits && file.size > imageLimits.maxBytes) return note(texts.imageTooLarge, 'sb-error');
    var clientId = newId();
    var node = addMessage({ id: clientId, clientId: clientId, from: 'visitor', text: '' });
    var pending = el('span', { class: 'note', 'data-testid': 'sb-image-pending' }, texts.sendingImage);
    node.appendChild(pending);
    var form = new FormData();
    form.append('file', file, file.name || 'image');
    var query = { clientId: clientId };
    if (settings.locale) query.locale = settings.locale;
    fetch(base + '/chat/attachments?' + visitorQuery(query), {
      method: 'POST',
      headers: { authorization: 'Bearer ' + chatToken },
      body: form,
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error((body && body.error && body.error.message) || texts.imageFailed);
          return body;
        });
      })
      .then(function (sent) {
        pending.remove();
        sent.attachments.forEach(function (attachment) {
          showImage(node, attachment);
        });
      })
      .catch(function (error) {
        node.remove();
        note((error && error.message) || texts.imageFailed, 'sb-error');
      });
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
      chatToken = session.token;
      imageLimits = session.imageLimits || null;
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
    // A message ends the typing burst: the next keystroke announces typing again (the first burst of a
    // chat was announced before its interaction existed, and nobody heard it).
    if (typingTimer) {
      clearTimeout(typingTimer);
      typingTimer = null;
      socket.emit('typing', { isTyping: false });
    }
    addMessage({ id: clientId, clientId: clientId, from: 'visitor', text: text });
    send('message:send', { clientId: clientId, text: text });
  });

  attach.addEventListener('click', function () {
    fileInput.click();
  });
  fileInput.addEventListener('change', function () {
    Array.prototype.forEach.call(fileInput.files || [], sendImage);
    fileInput.value = '';
  });
  // Pasted or dropped files are sent as images (the server refuses what is not one); pasted text stays
  // a paste.
  input.addEventListener('paste', function (event) {
    var images = Array.prototype.slice.call((event.clipboardData && event.clipboardData.files) || []);
    if (!images.length) return;
    event.preventDefault();
    images.forEach(sendImage);
  });
  panel.addEventListener('dragover', function (event) {
    if (!composer.hidden) event.preventDefault();
  });
  panel.addEventListener('drop', function (event) {
    if (composer.hidden) return;
    event.preventDefault();
    Array.prototype.forEach.call((event.dataTransfer && event.dataTransfer.files) || [], sendImage);
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
