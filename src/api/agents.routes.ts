import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { AgentsService } from '../agents/agents.service.js';
import { currentAgent, roles } from './auth.guard.js';
import { Agent, Capacity, IdParams, Role, Skills } from './schemas.js';

export function agentsRoutes(base: FastifyInstance, deps: { agents: AgentsService }) {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/api/agents',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['agents'],
        summary: 'All agents',
        response: { 200: Type.Object({ agents: Type.Array(Agent) }) },
      },
    },
    async () => ({ agents: await deps.agents.list() }),
  );

  app.post(
    '/api/agents',
    {
      config: { access: roles.admin },
      schema: {
        tags: ['agents'],
        summary: 'Create an agent (admin)',
        body: Type.Object(
          {
            email: Type.String({ format: 'email', maxLength: 320 }),
            displayName: Type.String({ minLength: 1, maxLength: 200 }),
            role: Role,
            password: Type.String({ minLength: 10, maxLength: 200 }),
            skills: Type.Optional(Skills),
            capacity: Type.Optional(Capacity),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ agent: Agent }) },
      },
    },
    async (request, reply) =>
      reply.code(201).send({ agent: await deps.agents.create(request.body, currentAgent(request).id) }),
  );

  app.patch(
    '/api/agents/:id',
    {
      config: { access: roles.admin },
      schema: {
        tags: ['agents'],
        summary: 'Change an agent: name, role, skills, capacity, password, disabled (admin)',
        params: IdParams,
        body: Type.Object(
          {
            displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            role: Type.Optional(Role),
            password: Type.Optional(Type.String({ minLength: 10, maxLength: 200 })),
            skills: Type.Optional(Skills),
            capacity: Type.Optional(Capacity),
            isDisabled: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Type.Object({ agent: Agent }) },
      },
    },
    async (request) => ({
      agent: await deps.agents.update(request.params.id, request.body, currentAgent(request).id),
    }),
  );
}
