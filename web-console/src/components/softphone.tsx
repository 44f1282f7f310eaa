import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type Agent } from '../api.js';
import type { Registration, Softphone, SoftphoneSnapshot } from '../phone.js';

/*
 * The softphone in the console: its state in the top bar (registered, offline and why, or a discreet "Phone
 * off" when the server has no phone channel), where calls reach the agent (this browser, or their own phone:
 * `PUT /api/phone/device`), and a ringing call the console did not expect, with Accept and Reject.
 */

/** The softphone's snapshot, re-rendered on every change. */
export function useSoftphone(softphone: Softphone): SoftphoneSnapshot {
  const [snapshot, setSnapshot] = useState(softphone.snapshot);
  useEffect(() => {
    setSnapshot(softphone.snapshot);
    return softphone.subscribe(setSnapshot);
  }, [softphone]);
  return snapshot;
}

const registrationLabels: Record<Registration['state'], string> = {
  starting: 'Phone…',
  off: 'Phone off',
  registering: 'Phone connecting…',
  registered: 'Phone ready',
  offline: 'Phone offline',
};

/** The agent's choice as last saved from this browser (the server keeps it; the API does not return it). */
const deviceKey = (agentId: string) => `switchboard:phone-device:${agentId}`;

function loadDevice(agentId: string): string | null {
  try {
    return localStorage.getItem(deviceKey(agentId));
  } catch {
    return null;
  }
}

function saveDevice(agentId: string, phoneNumber: string | null): void {
  try {
    if (phoneNumber) localStorage.setItem(deviceKey(agentId), phoneNumber);
    else localStorage.removeItem(deviceKey(agentId));
  } catch {
    // Storage disabled: the choice is still the server's; this browser just cannot show it after a reload.
  }
}

/** The top bar's phone: the softphone's state (and why it is offline), and where calls reach the agent. */
export function PhoneStatus({ agent, phone }: { agent: Agent; phone: SoftphoneSnapshot }) {
  const [isChoosing, setChoosing] = useState(false);
  const [phoneNumber, setPhoneNumber] = useState(() => loadDevice(agent.id));
  const { registration } = phone;
  const reason = registration.state === 'offline' ? registration.reason : null;
  if (registration.state === 'off')
    return (
      <span class="phone-status off" data-testid="softphone" data-state="off" title="No phone channel">
        Phone off
      </span>
    );
  return (
    <div class="phone">
      <span
        class={`phone-status ${registration.state}`}
        data-testid="softphone"
        data-state={registration.state}
        role="status"
        title={reason ?? undefined}
      >
        {registrationLabels[registration.state]}
        {reason && (
          <span class="phone-reason" data-testid="softphone-reason">
            : {reason}
          </span>
        )}
      </span>
      <button
        type="button"
        class="phone-device-open"
        data-testid="phone-device-open"
        aria-expanded={isChoosing}
        title="Where calls reach me"
        onClick={() => setChoosing((is) => !is)}
      >
        {phoneNumber ? `Calls to ${phoneNumber}` : 'Calls to this browser'}
      </button>
      {isChoosing && (
        <DevicePicker
          current={phoneNumber}
          onSaved={(saved) => {
            saveDevice(agent.id, saved);
            setPhoneNumber(saved);
            setChoosing(false);
          }}
          onCancel={() => setChoosing(false)}
        />
      )}
    </div>
  );
}

/** Softphone or "My phone: +1…"; the server normalizes the number or refuses it (its message is shown). */
function DevicePicker(props: {
  current: string | null;
  onSaved: (phoneNumber: string | null) => void;
  onCancel: () => void;
}) {
  const [isOwnPhone, setOwnPhone] = useState(props.current !== null);
  const [number, setNumber] = useState(props.current ?? '');
  const [problem, setProblem] = useState<string | null>(null);
  const [isSaving, setSaving] = useState(false);
  const numberField = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (isOwnPhone) numberField.current?.focus();
  }, [isOwnPhone]);

  const save = async (event: Event) => {
    event.preventDefault();
    setSaving(true);
    setProblem(null);
    try {
      const { phoneNumber } = await api.setPhoneDevice(isOwnPhone ? number.trim() : null);
      props.onSaved(phoneNumber);
    } catch (err) {
      setProblem(err instanceof Error ? err.message : String(err));
    } finally {
      setSaving(false);
    }
  };

  return (
    <form
      class="phone-device"
      data-testid="phone-device"
      aria-label="Where calls reach me"
      onSubmit={(e) => void save(e)}
      onKeyDown={(e) => {
        if (e.key === 'Escape') props.onCancel();
      }}
    >
      <p class="label">Calls reach me on</p>
      <label>
        <input
          type="radio"
          name="phone-device"
          data-testid="phone-device-softphone"
          checked={!isOwnPhone}
          onChange={() => setOwnPhone(false)}
        />
        Softphone (this browser)
      </label>
      <label>
        <input
          type="radio"
          name="phone-device"
          data-testid="phone-device-own"
          checked={isOwnPhone}
          onChange={() => setOwnPhone(true)}
        />
        My phone:
        <input
          ref={numberField}
          type="tel"
          aria-label="My phone number"
          data-testid="phone-device-number"
          placeholder="+1 415 555 0123"
          maxLength={32}
          disabled={!isOwnPhone}
          value={number}
          aria-invalid={problem ? true : undefined}
          onInput={(e) => setNumber(e.currentTarget.value)}
        />
      </label>
      {problem && (
        <p class="error" role="alert" data-testid="phone-device-error">
          {problem}
        </p>
      )}
      <div class="actions">
        <button
          type="submit"
          class="primary"
          data-testid="phone-device-save"
          disabled={isSaving || (isOwnPhone && !number.trim())}
        >
          Save
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** A call ringing on the softphone that the console did not expect: the agent accepts or rejects it. */
export function IncomingCall({ phone, softphone }: { phone: SoftphoneSnapshot; softphone: Softphone }) {
  const call = phone.call;
  if (!call || call.status !== 'ringing') return null;
  return (
    <aside class="incoming-call" role="alertdialog" aria-label="Incoming call" data-testid="incoming-call">
      <header>
        <span class="channel channel-voice">voice</span>
        <strong>Incoming call</strong>
      </header>
      <p class="caller">{call.from}</p>
      <div class="actions">
        <button
          type="button"
          class="primary"
          data-testid="incoming-accept"
          onClick={() => softphone.accept()}
        >
          Accept
        </button>
        <button type="button" data-testid="incoming-reject" onClick={() => softphone.reject()}>
          Reject
        </button>
      </div>
    </aside>
  );
}
