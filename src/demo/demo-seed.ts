import type { Services } from '../app.js';
import type { Role } from '../db/repositories/agents.repository.js';
import type { InboundContact } from '../interactions/inbound-contact.js';

/*
 * Demo data for a fresh install: agents with skills, accounts with owners, and customers with history on
 * every channel, all through the real ingest path (so the demo shows what production would hold). Prints
 * what it does; safe to run once on an empty database (main.ts checks).
 */

export const demoPassword = 'switchboard-demo';

export const demoAgents: {
  email: string;
  displayName: string;
  role: Role;
  skills: Record<string, number>;
  capacity: Record<string, number>;
}[] = [
  { email: 'admin@demo.switchboard', displayName: 'Ada Admin', role: 'admin', skills: {}, capacity: {} },
  {
    email: 'sam@demo.switchboard',
    displayName: 'Sam Supervisor',
    role: 'supervisor',
    skills: { billing: 4, support: 4 },
    capacity: { voice: 1, email: 5, chat: 3, fax: 5 },
  },
  {
    email: 'alice@demo.switchboard',
    displayName: 'Alice Agent',
    role: 'agent',
    skills: { billing: 5, spanish: 3 },
    capacity: { voice: 1, email: 8, chat: 3, fax: 5 },
  },
  {
    email: 'bob@demo.switchboard',
    displayName: 'Bob Agent',
    role: 'agent',
    skills: { support: 4, hardware: 3 },
    capacity: { voice: 1, email: 8, chat: 4, fax: 5 },
  },
  {
    email: 'carmen@demo.switchboard',
    displayName: 'Carmen Agent',
    role: 'agent',
    skills: { support: 3, spanish: 5 },
    capacity: { voice: 1, email: 6, chat: 2, fax: 5 },
  },
  {
    email: 'dev@demo.switchboard',
    displayName: 'Dev Agent',
    role: 'agent',
    skills: { billing: 2, support: 2, claims: 4 },
    capacity: { voice: 1, email: 10, chat: 3, fax: 10 },
  },
];

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);

export async function seedDemo(services: Services, log: (line: string) => void): Promise<void> {
  log(`creating ${demoAgents.length} agents`);
  const agentIds: Record<string, string> = {};
  for (const a of demoAgents) {
    const agent = await services.agents.create({ ...a, password: demoPassword }, null);
    agentIds[a.email] = agent.id;
  }

  log('creating 3 accounts with owners');
  const repo = services.repositories.customers;
  const acme = await repo.createAccount({
    name: 'Acme Logistics',
    tier: 'gold',
    ownerAgentId: agentIds['alice@demo.switchboard']!,
  });
  const clinic = await repo.createAccount({
    name: 'Northside Clinic',
    tier: 'platinum',
    ownerAgentId: agentIds['dev@demo.switchboard']!,
  });
  const bakery = await repo.createAccount({
    name: 'Rosa Bakery',
    tier: 'standard',
    ownerAgentId: agentIds['carmen@demo.switchboard']!,
  });

  const contacts: (InboundContact & { account?: string })[] = [
    // Maria: voice, then email, then chat: one customer across three channels.
    {
      channel: 'voice',
      externalId: 'demo-call-1',
      identities: [{ kind: 'phone', value: '(415) 555-0132' }],
      displayName: 'Maria Lopez',
      hints: { ivrChoice: 'billing', dialedNumber: '+18005550100' },
      occurredAt: minutesAgo(60 * 26),
      account: acme,
    },
    {
      channel: 'email',
      externalId: '<m1.maria@acme-logistics.example>',
      identities: [
        { kind: 'email', value: 'Maria.Lopez@acme-logistics.example' },
        { kind: 'phone', value: '+1 415 555 0132' },
      ],
      displayName: 'Maria Lopez',
      subject: 'Invoice 4411 charged twice',
      threadKey: 'thread-maria-invoice',
      text: 'Hello, our invoice 4411 was charged twice this month. Could you refund one?\n\nMaria Lopez\nAcme Logistics\n+1 415 555 0132',
      hints: { mailbox: 'support@demo.switchboard' },
      occurredAt: minutesAgo(60 * 25),
    },
    {
      channel: 'email',
      externalId: '<m2.maria@acme-logistics.example>',
      identities: [{ kind: 'email', value: 'maria.lopez@acme-logistics.example' }],
      displayName: 'Maria Lopez',
      subject: 'Re: Invoice 4411 charged twice',
      threadKey: 'thread-maria-invoice',
      text: 'Any news on this? Thanks, Maria',
      occurredAt: minutesAgo(60 * 3),
    },
    {
      channel: 'chat',
      externalId: 'demo-chat-1-msg-1',
      identities: [
        { kind: 'chat_visitor', value: 'visitor-7f3a' },
        { kind: 'email', value: 'maria.lopez@acme-logistics.example' },
      ],
      displayName: 'Maria Lopez',
      threadKey: 'chat-session-7f3a',
      text: 'Hi, following up on the double charge from my email',
      occurredAt: minutesAgo(20),
    },
    {
      channel: 'chat',
      externalId: 'demo-chat-1-msg-2',
      identities: [{ kind: 'chat_visitor', value: 'visitor-7f3a' }],
      threadKey: 'chat-session-7f3a',
      text: 'Invoice number is 4411',
      occurredAt: minutesAgo(19),
    },
    // Northside Clinic: faxes and a call.
    {
      channel: 'fax',
      externalId: 'demo-fax-1',
      identities: [{ kind: 'fax', value: '+1 312 555 0190' }],
      displayName: 'Northside Clinic Front Desk',
      text: 'REFERRAL FORM\nPatient: J. Doe\nPlease schedule a claims review.',
      hints: { pages: 2, receivedOn: '+18005550111' },
      attachments: [
        {
          fileName: 'fax-demo-1.pdf',
          contentType: 'application/pdf',
          sizeBytes: 48213,
          storageKey: 'demo/fax-demo-1.pdf',
        },
      ],
      occurredAt: minutesAgo(60 * 50),
      account: clinic,
    },
    {
      channel: 'voice',
      externalId: 'demo-call-2',
      identities: [{ kind: 'phone', value: '+1 312 555 0191' }],
      displayName: 'Dr. Priya Shah',
      hints: { ivrChoice: 'claims' },
      occurredAt: minutesAgo(60 * 49),
      account: clinic,
    },
    {
      channel: 'email',
      externalId: '<p1.shah@northside-clinic.example>',
      identities: [{ kind: 'email', value: 'priya.shah@northside-clinic.example' }],
      displayName: 'Priya Shah',
      subject: 'Claim 88-120 status',
      text: 'Could you confirm you received our fax about claim 88-120?\n\nDr. Priya Shah\nTel. 312-555-0191',
      occurredAt: minutesAgo(60 * 5),
    },
    // Rosa: chat then voice, Spanish.
    {
      channel: 'chat',
      externalId: 'demo-chat-2-msg-1',
      identities: [{ kind: 'chat_visitor', value: 'visitor-rosa-01' }],
      displayName: 'Rosa Martínez',
      threadKey: 'chat-session-rosa',
      text: 'Hola, ¿pueden cambiar la dirección de entrega?',
      hints: { locale: 'es' },
      occurredAt: minutesAgo(60 * 8),
      account: bakery,
    },
    {
      channel: 'voice',
      externalId: 'demo-call-3',
      identities: [{ kind: 'phone', value: '+34 612 345 678' }],
      displayName: 'Rosa Martínez',
      hints: { ivrChoice: 'spanish' },
      occurredAt: minutesAgo(90),
    },
    // A different person who shares a common name at a webmail domain: must not be suggested as a duplicate.
    {
      channel: 'email',
      externalId: '<x1.jsmith@gmail.example>',
      identities: [{ kind: 'email', value: 'john.smith@gmail.com' }],
      displayName: 'John Smith',
      subject: 'Where is my parcel?',
      text: 'Tracking says delivered but nothing arrived.',
      occurredAt: minutesAgo(60 * 30),
    },
    {
      channel: 'email',
      externalId: '<x2.jsmith2@gmail.example>',
      identities: [{ kind: 'email', value: 'jsmith1987@gmail.com' }],
      displayName: 'John Smith',
      subject: 'Password reset',
      text: 'I cannot log in.',
      occurredAt: minutesAgo(60 * 29),
    },
  ];

  log(`ingesting ${contacts.length} contacts across voice, email, chat and fax`);
  const customersByAccount = new Map<string, string>();
  for (const [index, { account, ...contact }] of contacts.entries()) {
    const result = await services.ingest(contact);
    if (account && !customersByAccount.has(result.customerId)) {
      await repo.setAccount(result.customerId, account);
      customersByAccount.set(result.customerId, account);
    }
    if ((index + 1) % 4 === 0) log(`  ${index + 1}/${contacts.length} contacts`);
  }

  log('looking for duplicate customers (suggestions only; a supervisor decides)');
  const checked = await services.duplicateDetector.sweep(1000);
  log(`  ${checked} customers checked`);
  log('demo data ready');
}
