// Node preload (NODE_OPTIONS="--require /abs/path/tuner_patience.js"): NNI 3.0's manager gives its tuner
// (the dispatcher process) a hard-coded 10 s to connect, and on a loaded machine importing NNI alone can take
// longer, so the experiment ends in ERROR before it starts. This extends that one timer to
// NAS_TOOLKIT_TUNER_CONNECT_S seconds (default 60). A tuner that crashes is still seen at once by the runner.
'use strict';
const util = require('util');

const seconds = Number(process.env.NAS_TOOLKIT_TUNER_CONNECT_S) || 60;
const original = global.setTimeout;

function patient(callback, delay, ...args) {
  if (delay === 10000 && typeof callback === 'function' && String(callback).includes('Tuner did not connect')) {
    delay = seconds * 1000;
  }
  return original.call(this, callback, delay, ...args);
}
Object.defineProperty(patient, util.promisify.custom, { value: original[util.promisify.custom] });
global.setTimeout = patient;
