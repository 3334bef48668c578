import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTable } from '../../api/route';
import { DAY_MS } from '../../core/platform/config';
import { newId } from '../../core/platform/crypto';
import { verifyTeamWebhook } from '../../core/teams/webhook-signature';
import { NEWEST_SHIPPED_POLICY_VERSION } from '../../policies';
import { sweepHandlers } from '../../scheduler/sweeps';
import { seedHeadshots, seedPhotos } from '../support/seed';
import { signUp, startStack, type Stack, until } from '../support/stack';
import { unzip } from '../support/unzip';

/**
 * Teams (issue 23) on the real stack: organisations, invitations, each member's consent, what an
 * admin can and cannot reach, the streamed ZIP, seats and webhooks. Headshots here are seeded rows
 * with stored objects (access is about rows and objects, not pixels); the team-of-20 test
 * (teams-flow.test.ts) makes real ones through the workers.
 */
let stack: Stack;
type Person = Awaited<ReturnType<typeof signUp>>;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const api = (...a: Parameters<Stack['api']>) => stack.api(...a);

async function organisation(owner: Person, name = 'Acme'): Promise<string> {
  const r = await api('POST', '/v1/organisations', {
    token: owner.token,
    json: { name, billing_email: 'billing@acme.example' },
  });
  expect(r.status).toBe(201);
  return r.body.id;
}

/** The token of the last invitation link emailed to an address. */
function emailedToken(email: string): string {
  const mail = stack.postmark
    .to(email)
    .filter((m) => m.Tag === 'team-invitation')
    .at(-1);
  const token = /#\/join\?token=([A-Za-z0-9_.-]+)/.exec(mail?.TextBody ?? '')?.[1];
  if (!token) throw new Error(`no invitation email to ${email}`);
  return token;
}

/** Invites a person by email and accepts with consent: a member. */
async function join(owner: Person, org: string, person: Person, role: 'member' | 'admin' = 'member'): Promise<void> {
  const inv = await api('POST', `/v1/organisations/${org}/invitations`, {
    token: owner.token,
    json: { email: person.email, role },
  });
  expect(inv.status).toBe(201);
  const ok = await api('POST', `/v1/invitations/${emailedToken(person.email)}/accept`, {
    token: person.token,
    json: { consent_to_share: true },
  });
  expect(ok.status).toBe(201);
}

/** Rendered headshots of a person (seeded: rows and stored objects). */
const headshots = (p: Person, n: number) => seedHeadshots(stack.ctx, p.userId, n, stack.clock.now());

describe('TM1 organisations and roles', () => {
  it('TM1 the creator is the owner; members cannot manage it; a stranger learns nothing of it', async () => {
    const owner = await signUp(stack);
    const org = await organisation(owner);
    const got = await api('GET', `/v1/organisations/${org}`, { token: owner.token });
    expect(got.body).toMatchObject({
      id: org,
      name: 'Acme',
      role: 'owner',
      admin: { billing_email: 'billing@acme.example' },
    });
    const member = await signUp(stack);
    await join(owner, org, member);
    const asMember = await api('GET', `/v1/organisations/${org}`, { token: member.token });
    expect(asMember.body).toMatchObject({ role: 'member', admin: null });
    expect(
      (
        await api('PUT', `/v1/organisations/${org}/brand`, {
          token: member.token,
          json: { allowed_styles: ['studio-grey'] },
        })
      ).body.code,
    ).toBe('forbidden');
    const stranger = await signUp(stack);
    const r = await api('GET', `/v1/organisations/${org}`, { token: stranger.token });
    expect(r.status).toBe(404);
    expect(r.body.code).toBe('not_found');
  });

  it("TM1 an organisation whose only owner's account is deleted passes to its longest-standing admin, who is told; one with no one else in it is closed", async () => {
    const { deleteUser } = await import('../../core/privacy/deletion');
    const leaving = await signUp(stack);
    const withAdmin = await organisation(leaving, 'Acme Admins');
    const member = await signUp(stack);
    const admin = await signUp(stack);
    await join(leaving, withAdmin, member);
    await join(leaving, withAdmin, admin, 'admin');
    const withMember = await organisation(leaving, 'Acme Members');
    await join(leaving, withMember, member);
    const alone = await organisation(leaving, 'Acme Alone');
    const deleted = await deleteUser(stack.ctx, leaving.userId, 'test: account deletion');
    expect(deleted.details).toMatchObject({ organisations_handed_over: 2, organisations_closed: 1 });
    const role = async (p: Person, org: string) =>
      (await api('GET', `/v1/organisations/${org}`, { token: p.token })).body.role;
    // An admin before a member who joined earlier; with no admin, the longest-standing member.
    expect([await role(admin, withAdmin), await role(member, withAdmin)]).toEqual(['owner', 'member']);
    expect(await role(member, withMember)).toBe('owner');
    expect(await stack.ctx.db.selectFrom('organisations').select('id').where('id', '=', alone).execute()).toEqual([]);
    const told = (p: Person) => stack.postmark.to(p.email).filter((m) => m.Tag === 'team-owner');
    expect(told(admin).map((m) => m.Subject)).toEqual(['You are now an owner of Acme Admins on Rasmi']);
    expect(told(admin)[0].TextBody).toContain(`/app/#/organisation?id=${withAdmin}`);
    expect(told(member).map((m) => m.Subject)).toEqual(['You are now an owner of Acme Members on Rasmi']);
    // The new owner manages it: invites, and can make someone else an owner.
    const invite = await api('POST', `/v1/organisations/${withAdmin}/invitations`, {
      token: admin.token,
      json: { email: `next+${Date.now()}@example.com` },
    });
    expect(invite.status).toBe(201);
  });

  it('TM1 the brand limits the styles of seat orders and sets a backdrop of one colour or two', async () => {
    const owner = await signUp(stack);
    const org = await organisation(owner);
    const bad = await api('PUT', `/v1/organisations/${org}/brand`, {
      token: owner.token,
      json: { allowed_styles: ['no-such-style'] },
    });
    expect(bad.status).toBe(400);
    const ok = await api('PUT', `/v1/organisations/${org}/brand`, {
      token: owner.token,
      json: {
        allowed_styles: ['studio-grey', 'navy-gradient'],
        backdrop: { kind: 'gradient', from: '#1F3A5F', to: '#0a1020' },
      },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      allowed_styles: ['studio-grey', 'navy-gradient'],
      backdrop: { kind: 'gradient', from: '#1f3a5f', to: '#0a1020' },
    });
    const row = await stack.ctx.db
      .selectFrom('organisations')
      .select('backdrop')
      .where('id', '=', org)
      .executeTakeFirstOrThrow();
    expect(row.backdrop).toEqual({ kind: 'gradient', top: [31, 58, 95], bottom: [10, 16, 32] });
    const member = await signUp(stack);
    await join(owner, org, member);
    const order = await api('POST', `/v1/organisations/${org}/orders`, {
      token: member.token,
      json: { package_id: 'starter', style_ids: ['warm-office'], photo_ids: [newId('pho')] },
    });
    expect(order.status).toBe(422);
    expect(order.body.code).toBe('style_not_allowed');
  });
});

describe('TM2 invitations', () => {
  it('TM2 expired, reused, wrong address, wrong domain, revoked and over the cap: each a clear 4xx with its code, and nothing joined', async () => {
    const owner = await signUp(stack);
    const org = await organisation(owner);
    const accept = (token: string, p: Person) =>
      api('POST', `/v1/invitations/${token}/accept`, { token: p.token, json: { consent_to_share: true } });
    const members = async () =>
      (await api('GET', `/v1/organisations/${org}/members`, { token: owner.token })).body.items.filter(
        (m: { user_id: string | null }) => m.user_id,
      ).length;

    // Reused: an email invitation works once.
    const a = await signUp(stack);
    await join(owner, org, a);
    const reused = await accept(emailedToken(a.email), a);
    expect([reused.status, reused.body.code]).toEqual([409, 'invitation_used']);

    // For another address.
    const b = await signUp(stack);
    const c = await signUp(stack);
    await api('POST', `/v1/organisations/${org}/invitations`, { token: owner.token, json: { email: b.email } });
    const wrongEmail = await accept(emailedToken(b.email), c);
    expect([wrongEmail.status, wrongEmail.body.code]).toEqual([403, 'invitation_wrong_email']);

    // Explicit consent is needed.
    const noConsent = await api('POST', `/v1/invitations/${emailedToken(b.email)}/accept`, {
      token: b.token,
      json: { consent_to_share: false },
    });
    expect([noConsent.status, noConsent.body.code]).toEqual([422, 'consent_required']);

    // Revoked.
    const invB = (await api('GET', `/v1/organisations/${org}/invitations`, { token: owner.token })).body.items.find(
      (i: { email: string }) => i.email === b.email,
    );
    expect(
      (await api('DELETE', `/v1/organisations/${org}/invitations/${invB.id}`, { token: owner.token })).body.status,
    ).toBe('revoked');
    const revoked = await accept(emailedToken(b.email), b);
    expect([revoked.status, revoked.body.code]).toEqual([410, 'invitation_revoked']);

    // Expired: the clock moves past its days.
    const d = await signUp(stack);
    await api('POST', `/v1/organisations/${org}/invitations`, {
      token: owner.token,
      json: { email: d.email, expires_in_days: 1 },
    });
    stack.clock.advance(DAY_MS + 1000);
    const expired = await accept(emailedToken(d.email), d);
    expect([expired.status, expired.body.code]).toEqual([410, 'invitation_expired']);

    // Open link: the domain, and the cap.
    const link = await api('POST', `/v1/organisations/${org}/invitation-links`, {
      token: owner.token,
      json: { domain: 'example.com', max_uses: 1 },
    });
    expect(link.status).toBe(201);
    const token = /token=([^&]+)/.exec(link.body.url)![1];
    const outsider = await signUp(stack);
    const otherDomainLink = await api('POST', `/v1/organisations/${org}/invitation-links`, {
      token: owner.token,
      json: { domain: 'acme.example', max_uses: 5 },
    });
    const wrongDomain = await accept(/token=([^&]+)/.exec(otherDomainLink.body.url)![1], outsider);
    expect([wrongDomain.status, wrongDomain.body.code]).toEqual([403, 'invitation_wrong_domain']);
    const e = await signUp(stack);
    const f = await signUp(stack);
    expect((await accept(token, e)).status).toBe(201);
    const full = await accept(token, f);
    expect([full.status, full.body.code]).toEqual([409, 'invitation_full']);
    const tampered = await accept(`${token.slice(0, -2)}xx`, f);
    expect([tampered.status, tampered.body.code]).toEqual([404, 'invitation_invalid']);

    // Owner, a, e: nobody else joined.
    expect(await members()).toBe(3);
    for (const r of [reused, wrongEmail, revoked, expired, wrongDomain, full])
      expect(r.headers.get('content-type')).toContain('application/problem+json');
  });

  it('TM2 a reminder goes to invitees who have not uploaded after the set days, once a period', async () => {
    const owner = await signUp(stack);
    const org = await organisation(owner);
    await api('PATCH', `/v1/organisations/${org}`, { token: owner.token, json: { reminder_days: 2 } });
    const invitee = `pending-${newId('x').slice(2, 10)}@example.com`;
    await api('POST', `/v1/organisations/${org}/invitations`, { token: owner.token, json: { email: invitee } });
    const member = await signUp(stack);
    await join(owner, org, member);
    const reminders = (to: string) => stack.postmark.to(to).filter((m) => m.Tag === 'team-reminder').length;
    const sweep = () => sweepHandlers['sweep.team-reminders'](stack.ctx, {}, undefined as never);
    await sweep();
    expect([reminders(invitee), reminders(member.email)]).toEqual([0, 0]);
    stack.clock.advance(2 * DAY_MS + 1000);
    await sweep();
    await sweep();
    expect([reminders(invitee), reminders(member.email)]).toEqual([1, 1]);
    stack.clock.advance(2 * DAY_MS);
    await sweep();
    expect([reminders(invitee), reminders(member.email)]).toEqual([2, 2]);
    // The invitee's address is erased 30 days after the invitation expired (14 days): no more reminders.
    stack.clock.advance(40 * DAY_MS);
    await sweep();
    const row = await stack.ctx.db
      .selectFrom('organisation_invitations')
      .select(['email_enc', 'email_hash'])
      .where('organisation_id', '=', org)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ email_enc: null, email_hash: null });
    expect(reminders(invitee)).toBe(2);
  });
});

describe("TM3 TM4 TM5 each person's consent and what admins can reach", () => {
  let owner: Person;
  let admin: Person;
  let member: Person;
  let org: string;
  let otherOrg: string;
  let shared: string[];
  let unshared: string;
  let photoId: string;
  let orderId: string;

  beforeAll(async () => {
    owner = await signUp(stack);
    org = await organisation(owner);
    admin = await signUp(stack);
    await join(owner, org, admin, 'admin');
    member = await signUp(stack);
    await join(owner, org, member);
    const hs = await headshots(member, 3);
    shared = hs.slice(0, 2);
    unshared = hs[2];
    expect(
      (await api('POST', `/v1/organisations/${org}/me/shared`, { token: member.token, json: { headshot_ids: shared } }))
        .status,
    ).toBe(200);
    orderId = (
      await stack.ctx.db.selectFrom('headshots').select('order_id').where('id', '=', unshared).executeTakeFirstOrThrow()
    ).order_id;
    photoId = (
      await stack.ctx.db
        .insertInto('photos')
        .values({
          id: newId('pho'),
          user_id: member.userId,
          blob_id: (
            await stack.ctx.db
              .selectFrom('headshots')
              .select('blob_id')
              .where('id', '=', unshared)
              .executeTakeFirstOrThrow()
          ).blob_id!,
          detected_type: 'jpeg',
          size_bytes: 256,
          width: 10,
          height: 10,
          uploaded_at: stack.clock.now(),
          verdict: JSON.stringify({ usable: true, faces: 1, reasons: [], advice: [] }),
          processed_at: stack.clock.now(),
          status: 'usable',
        })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    const otherOwner = await signUp(stack);
    otherOrg = await organisation(otherOwner, 'Other');
  });

  it('TM3 joining records the consent to share with its history; the member sees what they share', async () => {
    const rows = await stack.ctx.db
      .selectFrom('organisation_consents')
      .selectAll()
      .where('user_id', '=', member.userId)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      organisation_id: org,
      granted: true,
      source: expect.stringMatching(/^joined:inv_/),
    });
    const me = await api('GET', `/v1/organisations/${org}/me`, { token: member.token });
    expect(me.body).toMatchObject({ role: 'member', consent_to_share: true });
    expect(me.body.shared.map((s: { headshot_id: string }) => s.headshot_id).sort()).toEqual([...shared].sort());
    // The member's own export (RG1) holds it too: the organisation, the consent's history, what is shared.
    const { collectPersonalData } = await import('../../core/privacy/export');
    const { data } = await collectPersonalData(stack.ctx, member.userId);
    expect(data.organisations).toEqual([
      expect.objectContaining({
        id: org,
        name: 'Acme',
        role: 'member',
        consent_history: [expect.objectContaining({ granted: true })],
        shared_headshots: expect.arrayContaining(
          shared.map((h) => expect.objectContaining({ headshot_id: h, review: 'pending' })),
        ),
      }),
    ]);
  });

  it("TM4 an admin's token reaches shared headshots and nothing else of a member's: originals, verdicts, orders, unshared headshots", async () => {
    for (const t of [owner.token, admin.token]) {
      const list = await api('GET', `/v1/organisations/${org}/headshots`, { token: t });
      expect(list.body.items.map((i: { headshot_id: string }) => i.headshot_id).sort()).toEqual([...shared].sort());
      expect(JSON.stringify(list.body)).not.toMatch(/verdict|pho_|photo/);
      expect((await api('GET', `/v1/organisations/${org}/headshots/${shared[0]}/content`, { token: t })).status).toBe(
        200,
      );
      // The member's own routes: 404 for anyone else.
      const refused = [
        await api('GET', `/v1/organisations/${org}/headshots/${unshared}/content`, { token: t }),
        await api('POST', `/v1/organisations/${org}/headshots/${unshared}/approve`, { token: t }),
        await api('POST', `/v1/organisations/${org}/headshots/${unshared}/redo`, { token: t, json: {} }),
        await api('GET', `/v1/headshots/${unshared}/content`, { token: t }),
        await api('GET', `/v1/headshots/${shared[0]}/content`, { token: t }),
        await api('POST', `/v1/headshots/${shared[0]}/link`, { token: t }),
        await api('GET', `/v1/photos/${photoId}`, { token: t }),
        await api('GET', `/v1/photos/${photoId}/content`, { token: t }),
        await api('GET', `/v1/orders/${orderId}`, { token: t }),
        await api('DELETE', `/v1/organisations/${org}/me/shared/${shared[0]}`, { token: t }),
      ];
      expect(refused.map((r) => r.status)).toEqual(refused.map(() => 404));
      // Unsharing someone else's headshot through one's own membership changes nothing.
      expect((await api('GET', `/v1/organisations/${org}/headshots`, { token: t })).body.items).toHaveLength(2);
      // Sharing someone else's headshot as one's own is refused.
      await api('PUT', `/v1/organisations/${org}/me/consent`, { token: t, json: { granted: true } });
      expect(
        (await api('POST', `/v1/organisations/${org}/me/shared`, { token: t, json: { headshot_ids: [unshared] } }))
          .status,
      ).toBe(404);
      expect((await api('GET', `/v1/organisations/${org}/headshots`, { token: t })).body.items).toHaveLength(2);
    }
    const members = await api('GET', `/v1/organisations/${org}/members`, { token: admin.token });
    expect(members.body.items.find((m: { user_id: string }) => m.user_id === member.userId)).toMatchObject({
      status: 'shared',
      shared: 2,
    });
    expect(JSON.stringify(members.body)).not.toMatch(/pho_|verdict/);
  });

  it('TM4 every organisation route answers 404 to an admin of another organisation, and 403 or 404 to a plain member', async () => {
    const outsider = await signUp(stack);
    // outsider owns another organisation: admin there, stranger here.
    const theirs = await organisation(outsider, 'Theirs');
    const ids: Record<string, string> = {
      id: org,
      invitation_id: newId('inv'),
      user_id: member.userId,
      headshot_id: shared[0],
    };
    const routes = [...routeTable.values()].filter((r) => r.path.startsWith('/v1/organisations/:id'));
    expect(routes.length).toBeGreaterThanOrEqual(20);
    const bodies: Record<string, unknown> = {
      'PATCH /v1/organisations/:id': { name: 'x' },
      'PUT /v1/organisations/:id/brand': { allowed_styles: null },
      'PUT /v1/organisations/:id/logo': { image_base64: null },
      'POST /v1/organisations/:id/invitations': { email: 'a@example.com' },
      'POST /v1/organisations/:id/invitation-links': { domain: 'example.com', max_uses: 1 },
      'PATCH /v1/organisations/:id/members/:user_id': { role: 'admin' },
      'PUT /v1/organisations/:id/me/consent': { granted: true },
      'POST /v1/organisations/:id/me/shared': { headshot_ids: [shared[0]] },
      'POST /v1/organisations/:id/seats': { package_id: 'starter', seats: 1 },
      'POST /v1/organisations/:id/orders': { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photoId] },
      'POST /v1/organisations/:id/headshots/:headshot_id/redo': {},
      'PUT /v1/organisations/:id/webhook': { url: 'http://127.0.0.1:9/' },
    };
    for (const r of routes) {
      const path = r.path.replace(/:(\w+)/g, (_m, k: string) => ids[k]);
      const key = `${r.method.toUpperCase()} ${r.path}`;
      const res = await api(r.method.toUpperCase(), path, {
        token: outsider.token,
        json: bodies[key] ?? (r.body ? {} : undefined),
      });
      expect([key, res.status]).toEqual([key, 404]);
    }
    // Nothing of theirs changed hands: their organisation still knows no member of ours.
    expect(
      (await api('GET', `/v1/organisations/${theirs}/members`, { token: outsider.token })).body.items,
    ).toHaveLength(1);
    // A plain member of this organisation: the admin routes refuse with 403.
    for (const p of ['members', 'headshots', 'invitations', 'seats', 'webhook/deliveries', 'export']) {
      expect([p, (await api('GET', `/v1/organisations/${org}/${p}`, { token: member.token })).status]).toEqual([
        p,
        403,
      ]);
    }
    // The other organisation's admin sees nothing of ours through their own organisation either.
    expect(
      (await api('GET', `/v1/organisations/${otherOrg}/headshots/${shared[0]}/content`, { token: outsider.token }))
        .status,
    ).toBe(404);
  });

  it('TM5 withdrawing consent removes access in the same request; giving it again shares nothing by itself', async () => {
    expect(
      (await api('GET', `/v1/organisations/${org}/headshots/${shared[0]}/content`, { token: admin.token })).status,
    ).toBe(200);
    const w = await api('PUT', `/v1/organisations/${org}/me/consent`, {
      token: member.token,
      json: { granted: false },
    });
    expect(w.body).toEqual({ granted: false, changed: true });
    expect(
      (await api('GET', `/v1/organisations/${org}/headshots/${shared[0]}/content`, { token: admin.token })).status,
    ).toBe(404);
    expect((await api('GET', `/v1/organisations/${org}/headshots`, { token: admin.token })).body.items).toEqual([]);
    const zip = unzip(
      (await api('GET', `/v1/organisations/${org}/export?include=shared`, { token: admin.token })).body,
    );
    expect([...zip.keys()]).toEqual(['members.csv']);
    const refused = await api('POST', `/v1/organisations/${org}/me/shared`, {
      token: member.token,
      json: { headshot_ids: shared },
    });
    expect([refused.status, refused.body.code]).toEqual([409, 'consent_withdrawn']);
    const history = await stack.ctx.db
      .selectFrom('organisation_consents')
      .select(['granted', 'source'])
      .where('user_id', '=', member.userId)
      .orderBy('recorded_at')
      .execute();
    expect(history).toEqual([
      { granted: true, source: expect.stringMatching(/^joined:/) },
      { granted: false, source: 'settings' },
    ]);
    await api('PUT', `/v1/organisations/${org}/me/consent`, { token: member.token, json: { granted: true } });
    expect((await api('GET', `/v1/organisations/${org}/headshots`, { token: admin.token })).body.items).toEqual([]);
    await api('POST', `/v1/organisations/${org}/me/shared`, { token: member.token, json: { headshot_ids: shared } });
    expect((await api('GET', `/v1/organisations/${org}/headshots`, { token: admin.token })).body.items).toHaveLength(2);
  });

  it('TM5 leaving removes access in the same request; the member keeps their own headshots', async () => {
    const leaver = await signUp(stack);
    await join(owner, org, leaver);
    const [h] = await headshots(leaver, 1);
    await api('POST', `/v1/organisations/${org}/me/shared`, { token: leaver.token, json: { headshot_ids: [h] } });
    expect((await api('GET', `/v1/organisations/${org}/headshots/${h}/content`, { token: admin.token })).status).toBe(
      200,
    );
    expect((await api('POST', `/v1/organisations/${org}/leave`, { token: leaver.token })).status).toBe(204);
    expect((await api('GET', `/v1/organisations/${org}/headshots/${h}/content`, { token: admin.token })).status).toBe(
      404,
    );
    expect((await api('GET', `/v1/organisations/${org}`, { token: leaver.token })).status).toBe(404);
    expect((await api('GET', `/v1/headshots/${h}/content`, { token: leaver.token })).status).toBe(200);
    const last = await api('POST', `/v1/organisations/${org}/leave`, { token: owner.token });
    expect([last.status, last.body.code]).toEqual([409, 'last_owner']);
  });

  it("TM6 a deleted account's shared headshots disappear from the organisation's export", async () => {
    const gone = await signUp(stack);
    await join(owner, org, gone);
    const [h] = await headshots(gone, 1);
    await api('POST', `/v1/organisations/${org}/me/shared`, { token: gone.token, json: { headshot_ids: [h] } });
    await api('POST', `/v1/organisations/${org}/headshots/${h}/approve`, { token: admin.token });
    for (const s of shared)
      await api('POST', `/v1/organisations/${org}/headshots/${s}/approve`, { token: admin.token });
    const before = unzip((await api('GET', `/v1/organisations/${org}/export`, { token: admin.token })).body);
    expect([...before.keys()].filter((k) => k.includes(h))).toHaveLength(1);
    expect(before.get('members.csv')!.toString()).toContain(gone.email);
    const del = await api('POST', '/v1/rights-requests', { token: gone.token, json: { kind: 'deletion' } });
    expect(del.status).toBe(202);
    await until(
      async () =>
        !(await stack.ctx.db.selectFrom('users').select('id').where('id', '=', gone.userId).executeTakeFirst()),
      30_000,
      'the account to be deleted',
    );
    const after = unzip((await api('GET', `/v1/organisations/${org}/export`, { token: admin.token })).body);
    expect([...after.keys()].filter((k) => k.includes(h))).toEqual([]);
    expect(after.get('members.csv')!.toString()).not.toContain(gone.email);
    expect([...after.keys()].filter((k) => k.startsWith('headshots/'))).toHaveLength(2);
    expect(after.get('members.csv')!.toString().split('\r\n')[0]).toBe('name,email,style,file');
  });
});

describe('TM7 seats', () => {
  it('TM7 seats bought through the processor count once it confirms; an order with no seat left is refused', async () => {
    const owner = await signUp(stack);
    const org = await organisation(owner);
    const buy = await api('POST', `/v1/organisations/${org}/seats`, {
      token: owner.token,
      json: { package_id: 'starter', seats: 2 },
    });
    expect(buy.status).toBe(201);
    expect(buy.body).toMatchObject({ amount_cents: 3800, credit_cents: 0, currency: 'EUR', status: 'pending' });
    const seats = await until(
      async () => {
        const s = (await api('GET', `/v1/organisations/${org}/seats`, { token: owner.token })).body;
        return s.summary.packages.find((p: { package_id: string }) => p.package_id === 'starter').available === 2 && s;
      },
      15_000,
      'the seats to be paid',
    );
    expect(seats.purchases[0]).toMatchObject({ seats: 2, status: 'paid' });
    const payment = await stack.ctx.db
      .selectFrom('payments')
      .selectAll()
      .where(
        'id',
        '=',
        (
          await stack.ctx.db
            .selectFrom('seat_purchases')
            .select('payment_id')
            .where('id', '=', buy.body.purchase_id)
            .executeTakeFirstOrThrow()
        ).payment_id,
      )
      .executeTakeFirstOrThrow();
    expect(payment).toMatchObject({ status: 'succeeded', amount_cents: 3800, order_id: null });
    const member = await signUp(stack);
    await join(owner, org, member);
    const noSeat = await api('POST', `/v1/organisations/${org}/orders`, {
      token: member.token,
      json: { package_id: 'professional', style_ids: ['studio-grey'], photo_ids: [newId('pho')] },
    });
    expect([noSeat.status, noSeat.body.code]).toEqual([409, 'no_seat_left']);
    // A photo that cannot make a headshot is refused as a person's order refuses it: each with its reasons.
    const [unusable] = await seedPhotos(stack.ctx, member.userId, 1, stack.clock.now());
    const refused = await api('POST', `/v1/organisations/${org}/orders`, {
      token: member.token,
      json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [unusable] },
    });
    expect([refused.status, refused.body.code]).toEqual([422, 'photo_unusable']);
    expect(refused.body.photos).toEqual([{ id: unusable, status: 'unusable', reasons: expect.any(Array) }]);
  });
});

describe('TM7 what a seat order could not make goes back to the organisation', () => {
  /** A seat order of two headshots as the workers leave it: statuses given, drawn from a paid seat. */
  async function seatOrder(org: string, member: Person, statuses: ('rendered' | 'failed')[]) {
    const { db } = stack.ctx;
    const now = stack.clock.now();
    const orderId = newId('ord');
    await db
      .insertInto('orders')
      .values({
        id: orderId,
        user_id: member.userId,
        package_id: 'professional',
        styles: JSON.stringify(['studio-grey']),
        status: 'processing',
        amount_cents: 3900,
        currency: 'EUR',
        headshots_expected: statuses.length,
        failure_code: null,
        failure_detail: null,
        created_at: now,
        paid_at: now,
        delivered_at: null,
      })
      .execute();
    await db
      .insertInto('seat_draws')
      .values({
        id: newId('sdr'),
        organisation_id: org,
        order_id: orderId,
        user_id: member.userId,
        package_id: 'professional',
        kind: 'seat',
        drawn_at: now,
      })
      .execute();
    await db
      .insertInto('headshots')
      .values(
        statuses.map((status, i) => ({
          id: newId('hs'),
          order_id: orderId,
          user_id: member.userId,
          photo_id: null,
          style_id: 'studio-grey',
          status,
          position: i + 1,
          blob_id: null,
          width: null,
          height: null,
          failure_code: status === 'failed' ? 'face_not_true' : null,
          created_at: now,
          rendered_at: null,
          delivered_at: null,
        })),
      )
      .execute();
    return orderId;
  }

  it('TM7 a missing headshot is credited once (its share of the seat); an order that made nothing returns the seat', async () => {
    const { recordRefund } = await import('../../core/orders/orders');
    const owner = await signUp(stack);
    const org = await organisation(owner);
    const member = await signUp(stack);
    await join(owner, org, member);
    const payment = newId('pay');
    await stack.ctx.db
      .insertInto('payments')
      .values({
        id: payment,
        order_id: null,
        user_id: owner.userId,
        processor: 'local',
        processor_ref: payment,
        amount_cents: 7800,
        currency: 'EUR',
        status: 'succeeded',
        created_at: stack.clock.now(),
        succeeded_at: stack.clock.now(),
      })
      .execute();
    await stack.ctx.db
      .insertInto('seat_purchases')
      .values({
        id: newId('spu'),
        organisation_id: org,
        package_id: 'professional',
        seats: 2,
        amount_cents: 7800,
        currency: 'EUR',
        payment_id: payment,
        status: 'paid',
        created_at: stack.clock.now(),
        paid_at: stack.clock.now(),
      })
      .execute();
    const seats = async () => (await api('GET', `/v1/organisations/${org}/seats`, { token: owner.token })).body.summary;
    const half = await seatOrder(org, member, ['rendered', 'failed']);
    const none = await seatOrder(org, member, ['failed', 'failed']);
    expect((await seats()).packages.find((p: { package_id: string }) => p.package_id === 'professional')).toMatchObject(
      { purchased: 2, used: 2, available: 0 },
    );
    for (let i = 0; i < 3; i++) {
      await recordRefund(stack.ctx, half);
      await recordRefund(stack.ctx, none);
    }
    const after = await seats();
    expect(after.credit_cents).toBe(1950);
    expect(after.packages.find((p: { package_id: string }) => p.package_id === 'professional')).toMatchObject({
      used: 1,
      available: 1,
    });
    const credits = await stack.ctx.db
      .selectFrom('seat_credits')
      .selectAll()
      .where('organisation_id', '=', org)
      .execute();
    expect(credits).toEqual([
      expect.objectContaining({ order_id: half, reason: 'missing_headshots', amount_cents: 1950, headshots: 1 }),
    ]);
    // Nothing went to a card: seat orders have no payment of their own.
    expect(
      await stack.ctx.db.selectFrom('refunds').select('id').where('order_id', 'in', [half, none]).execute(),
    ).toEqual([]);

    // The credit is taken off the next seat purchases, once: two bought at once (1 starter seat,
    // €19.00, each) share the €19.50 between them, never spend it twice.
    const buys = await Promise.all(
      [1, 2].map((n) =>
        api('POST', `/v1/organisations/${org}/seats`, {
          token: owner.token,
          headers: { 'idempotency-key': `credit-${org}-${n}` },
          json: { package_id: 'starter', seats: 1 },
        }),
      ),
    );
    expect(buys.map((b) => b.status)).toEqual([201, 201]);
    const [byCredit, byCard] = buys.map((b) => b.body).sort((a, b) => a.amount_cents - b.amount_cents);
    expect(byCredit).toMatchObject({ amount_cents: 0, credit_cents: 1900, status: 'paid', payment: null });
    expect(byCard).toMatchObject({ amount_cents: 1850, credit_cents: 50, status: 'pending' });
    expect(byCard.payment.client_secret).toEqual(expect.any(String));
    const payments = await stack.ctx.db
      .selectFrom('seat_purchases')
      .innerJoin('payments', 'payments.id', 'seat_purchases.payment_id')
      .select(['seat_purchases.id', 'payments.processor', 'payments.amount_cents', 'payments.status'])
      .where('seat_purchases.id', 'in', [byCredit.purchase_id, byCard.purchase_id])
      .execute();
    expect(payments).toEqual(
      expect.arrayContaining([
        { id: byCredit.purchase_id, processor: 'credit', amount_cents: 0, status: 'succeeded' },
        expect.objectContaining({ id: byCard.purchase_id, amount_cents: 1850 }),
      ]),
    );
    const spent = await until(
      async () => {
        const s = await seats();
        return s.packages.find((p: { package_id: string }) => p.package_id === 'starter').available === 2 && s;
      },
      15_000,
      'the card-paid seat to be confirmed',
    );
    expect(spent.credit_cents).toBe(0);
    // With no credit left, the next purchase is charged in full.
    const full = await api('POST', `/v1/organisations/${org}/seats`, {
      token: owner.token,
      json: { package_id: 'starter', seats: 1 },
    });
    expect(full.body).toMatchObject({ amount_cents: 1900, credit_cents: 0, status: 'pending' });
  });
});

describe('TM8 signed webhooks', () => {
  let receiver: Server;
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];
  let failuresLeft = 2;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.statusCode = failuresLeft-- > 0 ? 503 : 204;
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => receiver.close(() => r())));

  it('TM8 events are signed over timestamp and body, retried with backoff as the clock moves, and logged', async () => {
    const owner = await signUp(stack);
    const org = await organisation(owner);
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    const set = await api('PUT', `/v1/organisations/${org}/webhook`, { token: owner.token, json: { url } });
    expect(set.body.secret).toMatch(/^whsec_/);
    const member = await signUp(stack);
    await join(owner, org, member);
    const log = async () =>
      (await api('GET', `/v1/organisations/${org}/webhook/deliveries`, { token: owner.token })).body.items[0];
    const first = await until(
      async () => {
        const d = await log();
        return d?.attempts === 1 && d;
      },
      15_000,
      'the first attempt',
    );
    expect(first).toMatchObject({
      event: 'member.joined',
      status: 'pending',
      last_status: 503,
      last_error: 'answered 503',
    });
    expect(Date.parse(first.next_attempt_at) - stack.clock.now().getTime()).toBe(60_000);
    // Not due yet: the sweep queues nothing.
    await sweepHandlers['sweep.team-webhooks'](stack.ctx, {}, undefined as never);
    expect(received).toHaveLength(1);
    stack.clock.advance(60_000);
    await sweepHandlers['sweep.team-webhooks'](stack.ctx, {}, undefined as never);
    const second = await until(
      async () => {
        const d = await log();
        return d?.attempts === 2 && d;
      },
      15_000,
      'the second attempt',
    );
    expect(Date.parse(second.next_attempt_at) - stack.clock.now().getTime()).toBe(240_000);
    stack.clock.advance(240_000);
    await sweepHandlers['sweep.team-webhooks'](stack.ctx, {}, undefined as never);
    const done = await until(
      async () => {
        const d = await log();
        return d?.status === 'delivered' && d;
      },
      15_000,
      'the delivery',
    );
    expect(done).toMatchObject({ attempts: 3, last_status: 204, last_error: null });
    expect(received).toHaveLength(3);
    const last = received[2];
    expect(last.headers['rasmi-event']).toBe('member.joined');
    expect(JSON.parse(last.body)).toMatchObject({
      type: 'member.joined',
      organisation_id: org,
      data: { member_id: member.userId, role: 'member' },
    });
    // Ids only: no name or email leaves in a webhook.
    expect(last.body).not.toContain(member.email);
    const header = String(last.headers['rasmi-signature']);
    expect(verifyTeamWebhook(last.body, header, set.body.secret, 300, stack.clock.now())).toBe('ok');
    expect(verifyTeamWebhook(`${last.body} `, header, set.body.secret, 300, stack.clock.now())).toBe(
      'signature_invalid',
    );
    expect(verifyTeamWebhook(last.body, header, 'whsec_other', 300, stack.clock.now())).toBe('signature_invalid');
    expect(
      verifyTeamWebhook(last.body, header, set.body.secret, 300, new Date(stack.clock.now().getTime() + 301_000)),
    ).toBe('timestamp_stale');

    // Shared and approved are delivered too, at once when the receiver answers.
    const [h] = await headshots(member, 1);
    await api('POST', `/v1/organisations/${org}/me/shared`, { token: member.token, json: { headshot_ids: [h] } });
    await api('POST', `/v1/organisations/${org}/headshots/${h}/approve`, { token: owner.token });
    await until(
      async () => {
        const items = (await api('GET', `/v1/organisations/${org}/webhook/deliveries`, { token: owner.token })).body
          .items;
        return items.length === 3 && items.every((d: { status: string }) => d.status === 'delivered') && items;
      },
      15_000,
      'shared and approved deliveries',
    );
    expect(
      received
        .slice(3)
        .map((r) => JSON.parse(r.body).type)
        .sort(),
    ).toEqual(['headshot.approved', 'headshots.shared']);
  });
});

describe('TM10 the policy says so', () => {
  it('TM10 a new material version says what organisations see and who is controller; each person is asked to accept it before ordering', async () => {
    const policy = await api('GET', '/v1/policy');
    expect(policy.body.id).toBe(NEWEST_SHIPPED_POLICY_VERSION);
    expect(policy.body.text).toMatch(/Organisations \(Rasmi for Teams\)/);
    expect(policy.body.text).toMatch(/never your selfies, their quality checks/);
    expect(policy.body.text).toMatch(/Rasmi is the controller of your account/);
    expect(policy.body.text).toMatch(/organisation is a separate controller of the copies/);
    const version = await api('GET', `/v1/policy/versions/${NEWEST_SHIPPED_POLICY_VERSION}`);
    expect(version.body).toMatchObject({ material: true, significant: true });

    const owner = await signUp(stack);
    const org = await organisation(owner);
    const member = await signUp(stack);
    await join(owner, org, member);
    // Someone who accepted the version before it: the re-consent flow stops new orders, seat orders too.
    await stack.ctx.db
      .updateTable('users')
      .set({ policy_version_id: '2026-01' })
      .where('id', '=', member.userId)
      .execute();
    const order = { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [newId('pho')] };
    const blocked = await api('POST', `/v1/organisations/${org}/orders`, { token: member.token, json: order });
    expect([blocked.status, blocked.body.code, blocked.body.policy_version]).toEqual([
      409,
      'policy_acceptance_required',
      NEWEST_SHIPPED_POLICY_VERSION,
    ]);
    expect((await api('POST', '/v1/orders/quote', { token: member.token, json: order })).status).not.toBe(409);
    const accepted = await api('POST', '/v1/me/policy-acceptance', {
      token: member.token,
      json: { version: NEWEST_SHIPPED_POLICY_VERSION },
    });
    expect(accepted.status).toBeLessThan(300);
    const past = await api('POST', `/v1/organisations/${org}/orders`, { token: member.token, json: order });
    expect([past.status, past.body.code]).toEqual([409, 'no_seat_left']);
  });
});
