import type { Kysely } from 'kysely';
import type { Channel } from '../../interactions/inbound-contact.js';
import type { AgentRow, Database } from '../tables.js';

export type AgentId = string;
export type Role = 'agent' | 'supervisor' | 'admin';

export interface Agent {
  id: AgentId;
  email: string;
  displayName: string;
  role: Role;
  isDisabled: boolean;
  skills: Record<string, number>;
  capacity: Partial<Record<Channel, number>>;
  createdAt: string;
}

export interface NewAgent {
  email: string;
  displayName: string;
  role: Role;
  passwordHash: string;
  skills: Record<string, number>;
  capacity: Partial<Record<Channel, number>>;
}

export function createAgentsRepository(db: Kysely<Database>) {
  async function hydrate(rows: AgentRow[]): Promise<Agent[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const [skills, capacities] = await Promise.all([
      db.selectFrom('agent_skills').selectAll().where('agent_id', 'in', ids).execute(),
      db.selectFrom('agent_capacities').selectAll().where('agent_id', 'in', ids).execute(),
    ]);
    return rows.map((r) => ({
      id: r.id,
      email: r.email,
      displayName: r.display_name,
      role: r.role,
      isDisabled: r.is_disabled,
      skills: Object.fromEntries(skills.filter((s) => s.agent_id === r.id).map((s) => [s.skill, s.level])),
      capacity: Object.fromEntries(
        capacities.filter((c) => c.agent_id === r.id).map((c) => [c.channel, c.capacity]),
      ),
      createdAt: r.created_at.toISOString(),
    }));
  }

  return {
    async create(agent: NewAgent): Promise<Agent> {
      const id = await db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('agents')
          .values({
            email: agent.email,
            display_name: agent.displayName,
            role: agent.role,
            password_hash: agent.passwordHash,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        const skills = Object.entries(agent.skills);
        if (skills.length)
          await trx
            .insertInto('agent_skills')
            .values(skills.map(([skill, level]) => ({ agent_id: row.id, skill, level })))
            .execute();
        const caps = Object.entries(agent.capacity);
        if (caps.length) {
          await trx
            .insertInto('agent_capacities')
            .values(caps.map(([channel, capacity]) => ({ agent_id: row.id, channel, capacity })))
            .execute();
        }
        return row.id;
      });
      return (await this.findById(id))!;
    },

    async update(
      id: AgentId,
      patch: Partial<Pick<NewAgent, 'displayName' | 'role' | 'skills' | 'capacity' | 'passwordHash'>> & {
        isDisabled?: boolean;
      },
    ): Promise<Agent | undefined> {
      await db.transaction().execute(async (trx) => {
        await trx
          .updateTable('agents')
          .set({
            ...(patch.displayName !== undefined && { display_name: patch.displayName }),
            ...(patch.role !== undefined && { role: patch.role }),
            ...(patch.passwordHash !== undefined && { password_hash: patch.passwordHash }),
            ...(patch.isDisabled !== undefined && { is_disabled: patch.isDisabled }),
            updated_at: new Date(),
          })
          .where('id', '=', id)
          .execute();
        if (patch.skills) {
          await trx.deleteFrom('agent_skills').where('agent_id', '=', id).execute();
          const skills = Object.entries(patch.skills);
          if (skills.length)
            await trx
              .insertInto('agent_skills')
              .values(skills.map(([skill, level]) => ({ agent_id: id, skill, level })))
              .execute();
        }
        if (patch.capacity) {
          await trx.deleteFrom('agent_capacities').where('agent_id', '=', id).execute();
          const caps = Object.entries(patch.capacity);
          if (caps.length)
            await trx
              .insertInto('agent_capacities')
              .values(caps.map(([channel, capacity]) => ({ agent_id: id, channel, capacity })))
              .execute();
        }
      });
      return this.findById(id);
    },

    async findById(id: AgentId): Promise<Agent | undefined> {
      const row = await db.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? (await hydrate([row]))[0] : undefined;
    },

    /** With the password hash, for login only. */
    async findCredentials(
      email: string,
    ): Promise<{ id: AgentId; passwordHash: string; isDisabled: boolean } | undefined> {
      const row = await db
        .selectFrom('agents')
        .select(['id', 'password_hash', 'is_disabled'])
        .where('email', '=', email.trim().toLowerCase())
        .executeTakeFirst();
      return row && { id: row.id, passwordHash: row.password_hash, isDisabled: row.is_disabled };
    },

    async list(): Promise<Agent[]> {
      return hydrate(await db.selectFrom('agents').selectAll().orderBy('display_name').execute());
    },

    async count(): Promise<number> {
      const row = await db
        .selectFrom('agents')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
  };
}

export type AgentsRepository = ReturnType<typeof createAgentsRepository>;
