/*
 * How an offer gets the agent's attention when the tab is in the background: a browser notification (once
 * the agent allowed them) and a short beep through WebAudio (no sound file to ship).
 */
let audio: AudioContext | undefined;

export function beep(): void {
  try {
    audio ??= new AudioContext();
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.25);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + 0.25);
  } catch {
    // No audio device or autoplay refused before any click: the toast and the notification remain.
  }
}

export function notify(title: string, body: string): void {
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
  const notification = new Notification(title, { body, tag: 'switchboard-offer' });
  notification.onclick = () => {
    window.focus();
    notification.close();
  };
}

export const canAskForNotifications = () =>
  typeof Notification !== 'undefined' && Notification.permission === 'default';
