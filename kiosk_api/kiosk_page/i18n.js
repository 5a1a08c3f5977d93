// Every text of the kiosk page, in each language it speaks.
// Adding a language: a new entry here with every key (missing keys fall back to English).

const TEXTS = {
  en: {
    loading: 'Starting…',
    question: 'How was your visit today?',
    npsQuestion: 'How likely are you to recommend us to a friend?',
    npsLow: 'Not likely at all',
    npsHigh: 'Extremely likely',
    levels: {
      2: ['Unhappy', 'Happy'],
      3: ['Unhappy', 'Neutral', 'Happy'],
      4: ['Very unhappy', 'Unhappy', 'Happy', 'Very happy'],
      5: ['Very unhappy', 'Unhappy', 'Neutral', 'Happy', 'Very happy'],
    },
    thanks: 'Thank you!',
    thanksSub: 'Your feedback helps us do better.',
    followup: 'What went wrong?',
    reasons: {
      queue: 'Waiting in line',
      staff: 'Staff',
      product: 'Products',
      cleanliness: 'Cleanliness',
      price: 'Prices',
      other: 'Something else',
    },
    skip: 'Skip',
    pairTitle: 'Set up this kiosk',
    pairHint: 'Enter the pairing code you were given for this kiosk.',
    pairLabel: 'Pairing code',
    pairSubmit: 'Pair',
    pairWorking: 'Pairing…',
    pairEmpty: 'Please enter the pairing code.',
    pairFailed: 'Pairing failed',
    pairBusy: 'Too many attempts. Please try again in a moment.',
    pairOffline: 'Cannot reach the server. Check the connection and try again.',
    pairUnexpected: 'Unexpected answer from the server (HTTP {status}). Please try again.',
    inactive: 'This kiosk is not active',
    inactiveSub: 'Feedback is not being collected here at the moment.',
    repair: 'Set up again',
    queued: 'Waiting to send:',
    stateOk: 'all sent',
    stateSending: 'sending…',
    stateFailed: 'last send failed',
    stateUnauthorised: 'token refused',
  },
  ru: {
    loading: 'Запуск…',
    question: 'Как прошёл ваш визит сегодня?',
    npsQuestion: 'Насколько вероятно, что вы порекомендуете нас другу?',
    npsLow: 'Совсем маловероятно',
    npsHigh: 'Очень вероятно',
    levels: {
      2: ['Плохо', 'Хорошо'],
      3: ['Плохо', 'Нормально', 'Хорошо'],
      4: ['Очень плохо', 'Плохо', 'Хорошо', 'Отлично'],
      5: ['Очень плохо', 'Плохо', 'Нормально', 'Хорошо', 'Отлично'],
    },
    thanks: 'Спасибо!',
    thanksSub: 'Ваш отзыв помогает нам стать лучше.',
    followup: 'Что пошло не так?',
    reasons: {
      queue: 'Очередь',
      staff: 'Персонал',
      product: 'Товары',
      cleanliness: 'Чистота',
      price: 'Цены',
      other: 'Другое',
    },
    skip: 'Пропустить',
    pairTitle: 'Настройка киоска',
    pairHint: 'Введите код привязки, выданный для этого киоска.',
    pairLabel: 'Код привязки',
    pairSubmit: 'Привязать',
    pairWorking: 'Привязка…',
    pairEmpty: 'Введите код привязки.',
    pairFailed: 'Не удалось привязать киоск',
    pairBusy: 'Слишком много попыток. Попробуйте ещё раз чуть позже.',
    pairOffline: 'Нет связи с сервером. Проверьте подключение и попробуйте снова.',
    pairUnexpected: 'Неожиданный ответ сервера (HTTP {status}). Попробуйте снова.',
    inactive: 'Этот киоск не активен',
    inactiveSub: 'Сейчас здесь не собираются отзывы.',
    repair: 'Настроить заново',
    queued: 'Ждут отправки:',
    stateOk: 'всё отправлено',
    stateSending: 'отправка…',
    stateFailed: 'последняя отправка не удалась',
    stateUnauthorised: 'токен отклонён',
  },
  lv: {
    loading: 'Notiek palaišana…',
    question: 'Kā jums patika šodienas apmeklējums?',
    npsQuestion: 'Cik ticami, ka jūs mūs ieteiktu draugam?',
    npsLow: 'Nemaz ne',
    npsHigh: 'Ļoti ticami',
    levels: {
      2: ['Slikti', 'Labi'],
      3: ['Slikti', 'Normāli', 'Labi'],
      4: ['Ļoti slikti', 'Slikti', 'Labi', 'Ļoti labi'],
      5: ['Ļoti slikti', 'Slikti', 'Normāli', 'Labi', 'Ļoti labi'],
    },
    thanks: 'Paldies!',
    thanksSub: 'Jūsu atsauksme palīdz mums kļūt labākiem.',
    followup: 'Kas nebija kārtībā?',
    reasons: {
      queue: 'Rinda',
      staff: 'Personāls',
      product: 'Preces',
      cleanliness: 'Tīrība',
      price: 'Cenas',
      other: 'Kas cits',
    },
    skip: 'Izlaist',
    pairTitle: 'Kioska iestatīšana',
    pairHint: 'Ievadiet šim kioskam izsniegto savienošanas kodu.',
    pairLabel: 'Savienošanas kods',
    pairSubmit: 'Savienot',
    pairWorking: 'Savieno…',
    pairEmpty: 'Lūdzu, ievadiet savienošanas kodu.',
    pairFailed: 'Savienošana neizdevās',
    pairBusy: 'Pārāk daudz mēģinājumu. Lūdzu, mēģiniet vēlreiz pēc brīža.',
    pairOffline: 'Nevar sazināties ar serveri. Pārbaudiet savienojumu un mēģiniet vēlreiz.',
    pairUnexpected: 'Negaidīta servera atbilde (HTTP {status}). Lūdzu, mēģiniet vēlreiz.',
    inactive: 'Šis kiosks nav aktīvs',
    inactiveSub: 'Šobrīd atsauksmes šeit netiek vāktas.',
    repair: 'Iestatīt no jauna',
    queued: 'Gaida nosūtīšanu:',
    stateOk: 'viss nosūtīts',
    stateSending: 'sūta…',
    stateFailed: 'pēdējā sūtīšana neizdevās',
    stateUnauthorised: 'žetons noraidīts',
  },
};

export const LANGUAGES = Object.keys(TEXTS);

/**
 * The first of `preferred` (e.g. navigator.languages, or the kiosk's configured
 * language) that we speak, matched by its primary subtag ("lv-LV" → "lv"); else English.
 */
export function pickLanguage(preferred) {
  for (const tag of preferred || []) {
    const primary = String(tag || '').toLowerCase().split(/[-_]/)[0];
    if (primary in TEXTS) return primary;
  }
  return 'en';
}

/** The texts of `lang`, English for anything it lacks. */
export function textsFor(lang) {
  const own = TEXTS[lang] || {};
  return {
    ...TEXTS.en,
    ...own,
    levels: { ...TEXTS.en.levels, ...own.levels },
    reasons: { ...TEXTS.en.reasons, ...own.reasons },
  };
}

/** Labels of the levels 1..scale, most negative first (smiley kiosks; an NPS kiosk's
 * buttons are its scores 0..10, with npsLow and npsHigh under the ends). */
export function levelLabels(texts, scale) {
  const labels = texts.levels[scale];
  if (labels && labels.length === scale) return labels;
  // A scale we have no words for: numbers still say which end is which.
  return Array.from({ length: scale }, (_, i) => `${i + 1} / ${scale}`);
}

/** A follow-up reason's label; an id we do not know reads "long_wait" → "Long wait". */
export function reasonLabel(texts, id) {
  if (Object.prototype.hasOwnProperty.call(texts.reasons, id)) return texts.reasons[id];
  const words = String(id).replace(/_/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** "{status}"-style placeholders. */
export function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
}
