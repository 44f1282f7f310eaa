import { Type, type Static } from 'typebox';

// Response schemas list exactly the public fields: fast-json-stringify drops anything else (password hashes,
// internal flags), so a repository returning more can never leak it.

export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);

export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    requestId: Type.Optional(Type.String()),
    details: Type.Optional(Type.Unknown()),
  }),
});

export const Uuid = Type.String({ format: 'uuid' });
export const IdParams = Type.Object({ id: Uuid });
export type IdParams = Static<typeof IdParams>;

export const Channel = Type.Union([
  Type.Literal('voice'),
  Type.Literal('email'),
  Type.Literal('chat'),
  Type.Literal('fax'),
]);
export const Role = Type.Union([Type.Literal('agent'), Type.Literal('supervisor'), Type.Literal('admin')]);

export const Skills = Type.Record(
  Type.String({ pattern: '^[a-z0-9_.-]{1,40}$' }),
  Type.Integer({ minimum: 1, maximum: 5 }),
);
export const Capacity = Type.Object(
  {
    voice: Type.Optional(Type.Integer({ minimum: 0, maximum: 1 })),
    email: Type.Optional(Type.Integer({ minimum: 0, maximum: 50 })),
    chat: Type.Optional(Type.Integer({ minimum: 0, maximum: 20 })),
    fax: Type.Optional(Type.Integer({ minimum: 0, maximum: 50 })),
  },
  { additionalProperties: false },
);

export const Agent = Type.Object({
  id: Uuid,
  email: Type.String(),
  displayName: Type.String(),
  role: Role,
  isDisabled: Type.Boolean(),
  skills: Type.Record(Type.String(), Type.Integer()),
  capacity: Type.Record(Type.String(), Type.Integer()),
  createdAt: Type.String({ format: 'date-time' }),
});

export const Identity = Type.Object({
  id: Uuid,
  kind: Type.String(),
  value: Type.String(),
  rawValue: Type.String(),
});

export const CustomerSummary = Type.Object({
  id: Uuid,
  displayName: Nullable(Type.String()),
  identities: Type.Array(Identity),
});

export const Customer = Type.Object({
  id: Uuid,
  displayName: Nullable(Type.String()),
  accountId: Nullable(Uuid),
  mergedIntoId: Nullable(Uuid),
  createdAt: Type.String({ format: 'date-time' }),
  identities: Type.Array(Identity),
  account: Nullable(
    Type.Object({
      id: Uuid,
      name: Type.String(),
      tier: Type.String(),
      ownerAgentId: Nullable(Uuid),
      ownerName: Nullable(Type.String()),
    }),
  ),
});

export const Interaction = Type.Object({
  id: Uuid,
  ticketNumber: Type.Integer(),
  customerId: Uuid,
  channel: Channel,
  direction: Type.String(),
  status: Type.String(),
  queue: Nullable(Type.String()),
  priority: Type.Integer(),
  assigneeId: Nullable(Uuid),
  subject: Nullable(Type.String()),
  threadKey: Nullable(Type.String()),
  createdAt: Type.String(),
  offeredAt: Nullable(Type.String()),
  assignedAt: Nullable(Type.String()),
  firstResponseAt: Nullable(Type.String()),
  closedAt: Nullable(Type.String()),
});

export const LoggedEvent = Type.Object({
  id: Type.String(),
  interactionId: Uuid,
  type: Type.String(),
  actorType: Type.String(),
  actorId: Nullable(Type.String()),
  channel: Channel,
  payload: Type.Record(Type.String(), Type.Unknown()),
  occurredAt: Type.String(),
});

export const DuplicateSuggestion = Type.Object({
  id: Uuid,
  customerId: Uuid,
  otherCustomerId: Uuid,
  score: Type.Number(),
  reasons: Type.Array(Type.Object({ code: Type.String(), detail: Type.String() })),
  status: Type.String(),
  createdAt: Type.String(),
});

export const MergeResult = Type.Object({
  auditId: Type.String(),
  sourceCustomerId: Uuid,
  targetCustomerId: Uuid,
  identityIds: Type.Array(Uuid),
  interactionIds: Type.Array(Uuid),
});
