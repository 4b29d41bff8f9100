// Language routing: a Switchboard tenant plugin in JavaScript (componentize-js, StarlingMonkey).
//
// on-contact: the caller's IVR choice (attribute `ivr_language`) if it names a language we know,
// else keywords in the first message; asks for an agent with that language's skill (English
// needs none) and tags the contact `language=<code>`. on-message: tags the conversation the same
// way from the message. Nothing detected: the default. Other hooks: the default.
import { write } from 'switchboard:plugin/log@0.1.0';

// code -> [skill, keywords]. Keywords are compared with the lower-case words of the text.
const LANGUAGES = {
  es: ['spanish', ['hola', 'gracias', 'necesito', 'ayuda', 'por', 'favor', 'quiero', 'buenos',
    'buenas', 'dias', 'días', 'tengo', 'pedido', 'cuenta', 'factura', 'problema', 'mi', 'usted',
    'estoy', 'donde', 'dónde', 'cuando', 'cuándo', 'señor', 'porque', 'qué', 'sí']],
  fr: ['french', ['bonjour', 'bonsoir', 'salut', 'merci', 'besoin', 'aide', 'je', 'suis',
    'voudrais', 'commande', 'compte', 'facture', 'problème', 'vous', 'avec', 'pourquoi', "s'il",
    'plait', 'plaît', 'oui', 'madame', 'monsieur', 'très', "aujourd'hui"]],
  de: ['german', ['hallo', 'danke', 'bitte', 'ich', 'brauche', 'hilfe', 'guten', 'tag', 'morgen',
    'bestellung', 'rechnung', 'konto', 'nicht', 'möchte', 'moechte', 'warum', 'ja', 'nein',
    'vielen', 'dank', 'sie', 'und', 'ist', 'mein', 'meine']],
  en: ['', ['hello', 'hi', 'thanks', 'thank', 'please', 'need', 'help', 'order', 'account',
    'invoice', 'problem', 'my', 'want', 'would', 'like', 'why', 'yes', 'the', 'is']],
};
// Ties go to the first: the other languages before English.
const ORDER = ['es', 'fr', 'de', 'en'];
const KEYWORDS = Object.fromEntries(ORDER.map((code) => [code, new Set(LANGUAGES[code][1])]));

// Lower-case words (Latin letters, accents included; StarlingMonkey has no \p{L}). Words with an
// apostrophe count whole and by parts: "j'ai" -> "j'ai", "j", "ai".
function words(text) {
  const out = [];
  for (let word of text.toLowerCase().replace(/\u2019/g, "'").split(/[^a-z\u00c0-\u024f']+/)) {
    word = word.replace(/^'+|'+$/g, '');
    if (!word) continue;
    out.push(word);
    if (word.includes("'")) out.push(...word.split("'").filter(Boolean));
  }
  return out;
}

// The language code whose keywords occur most in `text`, or undefined.
function detectText(text) {
  if (!text) return undefined;
  const scores = Object.fromEntries(ORDER.map((code) => [code, 0]));
  for (const word of words(text)) {
    for (const code of ORDER) if (KEYWORDS[code].has(word)) scores[code] += 1;
  }
  let best = ORDER[0];
  for (const code of ORDER) if (scores[code] > scores[best]) best = code;
  return scores[best] > 0 ? best : undefined;
}

// The IVR menu's choice if it is a language we know, else what the first message says.
function detectContact(contact) {
  const ivr = contact.attributes.find((a) => a.name === 'ivr_language');
  if (ivr) {
    const code = ivr.value.trim().toLowerCase().slice(0, 2);
    if (Object.hasOwn(LANGUAGES, code)) return code;
  }
  return detectText(contact.text);
}

function logLanguage(hook, code) {
  write('info', `language: ${code ?? 'none'}`, [
    { name: 'hook', value: hook },
    { name: 'language', value: code ?? '' },
  ]);
}

export function describe() {
  return { hooks: ['on-contact', 'on-message'], httpHosts: [], secrets: [], kv: false };
}

export function onContact(contact) {
  const code = detectContact(contact);
  logLanguage('on-contact', code);
  const route = { queue: undefined, priority: undefined, skills: [], attributes: [] };
  if (code) {
    const skill = LANGUAGES[code][0];
    if (skill) route.skills.push(skill);
    route.attributes.push({ name: 'language', value: code });
  }
  return { tag: 'route', val: route };
}

export function onIvr(_state) {
  return { branch: undefined, attributes: [] };
}

export function onMessage(message) {
  const code = detectText(message.text);
  logLanguage('on-message', code);
  const attributes = code ? [{ name: 'language', value: code }] : [];
  return { reply: undefined, attributes, queue: undefined };
}

export function onWrapUp(_finished) {
  return [];
}
