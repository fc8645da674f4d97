// Node preload (NODE_OPTIONS="--require /abs/path/loopback.js"): a server that asks to listen on a bare
// port, as NNI 3.0's REST server does with app.listen(port), listens on NAS_TOOLKIT_WEBUI_HOST
// (default 127.0.0.1) instead of every interface. Calls that name a host, a path or a handle are unchanged.
'use strict';
const net = require('net');

const host = process.env.NAS_TOOLKIT_WEBUI_HOST || '127.0.0.1';
const listen = net.Server.prototype.listen;

function isPort(value) {
  return typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value));
}

net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (isPort(first) && typeof args[1] !== 'string') {
    args.splice(1, 0, host);  // listen(port[, backlog][, callback])
  } else if (first === undefined || typeof first === 'function') {
    args.splice(0, first === undefined ? 1 : 0, 0, host);  // listen([callback]): a random port
  } else if (first !== null && typeof first === 'object' && first.host === undefined && first.path === undefined
             && first.handle === undefined && first.fd === undefined && !('_handle' in first)) {
    args[0] = { ...first, host };  // listen({port, ...})
  }
  return listen.apply(this, args);
};
