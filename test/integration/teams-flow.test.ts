import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, signUp, startStack, type Stack, until, uploadJudged } from '../support/stack';
import { runTeam, type TeamRun } from '../support/team-flow';

/**
 * A team of 20 on the real stack and workers: invitations, joining with consent, photos, orders
 * drawn from seats and rendered on the organisation's backdrop, sharing, review, a redo, and the
 * admins' ZIP with members.csv and the logo's profile variants (test/support/team-flow.ts).
 */
let stack: Stack;
let run: TeamRun;
const N = 20;

beforeAll(async () => {
  stack = await startStack();
  run = await runTeam(
    {
      ctx: stack.ctx,
      api: (method, path, init) => stack.api(method, path, init),
      signUp: () => signUp(stack),
      invitationToken: async (email) =>
        /#\/join\?token=([A-Za-z0-9_.-]+)/.exec(
          stack.postmark
            .to(email)
            .filter((m) => m.Tag === 'team-invitation')
            .at(-1)?.TextBody ?? '',
        )![1],
      uploadJudged: async (token, photo) => (await uploadJudged(stack, token, photo)).id,
      until,
    },
    N,
    await fixture('astronaut.png'),
  );
}, 900_000);
afterAll(async () => {
  await stack?.stop();
});

describe('TM9 a team of 20 from invitations to the ZIP', () => {
  it('TM9 twenty members join, order from seats, share; the admin approves and downloads every headshot with members.csv', async () => {
    expect(run.members).toHaveLength(N);
    const heads = [...run.entries.keys()].filter((k) => k.startsWith('headshots/'));
    const profiles = [...run.entries.keys()].filter((k) => k.startsWith('profile/'));
    expect(heads).toHaveLength(N);
    expect(profiles).toHaveLength(N);
    for (const m of run.members) expect(heads.filter((k) => k.includes(m.headshotId))).toHaveLength(1);
    const csv = run.entries.get('members.csv')!.toString().trim().split('\r\n');
    expect(csv[0]).toBe('name,email,style,file');
    expect(csv).toHaveLength(N + 1);
    for (const m of run.members)
      expect(csv.find((l) => l.includes(m.email))).toMatch(
        new RegExp(
          `^Test Person,${m.email.replace(/[.+]/g, '\\$&')},studio-grey,headshots/test-person-studio-grey-${m.headshotId}\\.jpg$`,
        ),
      );
    // Seats: all drawn, none left.
    const seats = (
      await stack.api('GET', `/v1/organisations/${run.org}/seats`, { token: run.owner.token })
    ).body.summary.packages.find((p: { package_id: string }) => p.package_id === 'starter');
    expect(seats).toMatchObject({ purchased: N, used: N, available: 0 });
    const members = (await stack.api('GET', `/v1/organisations/${run.org}/members`, { token: run.owner.token })).body
      .items;
    expect(members.filter((m: { status: string }) => m.status === 'shared')).toHaveLength(N);
    expect(members.filter((m: { approved: number }) => m.approved === 1)).toHaveLength(N);
  });

  it("TM9 the headshots are made on the organisation's backdrop, and each profile variant is a square with the logo", async () => {
    const head = run.entries.get([...run.entries.keys()].find((k) => k.startsWith('headshots/'))!)!;
    const meta = await sharp(head).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 1024, 1280]);
    // The top middle of the frame is backdrop: the brand's navy (31, 58, 95), not the style's grey (128, 130, 134).
    const { data } = await sharp(head)
      .extract({ left: 480, top: 8, width: 64, height: 32 })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const mean = [0, 1, 2].map(
      (c) => data.filter((_v, i) => i % 3 === c).reduce((a, b) => a + b, 0) / (data.length / 3),
    );
    expect(mean[2] - mean[0]).toBeGreaterThan(35);
    expect(mean[0]).toBeLessThan(90);
    const profile = run.entries.get([...run.entries.keys()].find((k) => k.startsWith('profile/'))!)!;
    const pm = await sharp(profile).metadata();
    expect([pm.width, pm.height]).toEqual([1024, 1024]);
    // The logo (orange) sits in the lower right corner.
    const corner = await sharp(profile)
      .extract({ left: 1024 - 32 - 100, top: 1024 - 32 - 100, width: 80, height: 80 })
      .removeAlpha()
      .raw()
      .toBuffer();
    expect(corner[0]).toBeGreaterThan(200);
    expect(corner[2]).toBeLessThan(60);
  });

  it("TM9 a redo is a free reprocess of the member's photos; the new headshot is theirs to share", async () => {
    const m = run.members[1];
    const redo = await stack.api('POST', `/v1/organisations/${run.org}/headshots/${m.headshotId}/redo`, {
      token: run.owner.token,
      json: { note: 'Please smile' },
    });
    expect(redo.status).toBe(201);
    const again = await stack.api('POST', `/v1/organisations/${run.org}/headshots/${m.headshotId}/redo`, {
      token: run.owner.token,
      json: {},
    });
    expect([again.status, again.body.code]).toEqual([409, 'redo_in_progress']);
    const order = await until(
      async () => {
        const o = (await stack.api('GET', `/v1/orders/${redo.body.order_id}`, { token: m.token })).body;
        return ['ready', 'failed'].includes(o.status) && o;
      },
      300_000,
      'the redo',
    );
    expect(order).toMatchObject({ status: 'ready', amount_cents: 0, headshots_delivered: 1 });
    const mine = (await stack.api('GET', `/v1/organisations/${run.org}/me`, { token: m.token })).body;
    expect(mine.shared).toEqual([
      expect.objectContaining({ headshot_id: m.headshotId, review: 'redo_requested', review_note: 'Please smile' }),
    ]);
    // Not shared until the member shares it.
    const list = (await stack.api('GET', `/v1/organisations/${run.org}/headshots`, { token: run.owner.token })).body
      .items;
    expect(list.map((s: { headshot_id: string }) => s.headshot_id)).not.toContain(order.headshots[0].id);
    expect(stack.postmark.to(m.email).some((x) => x.Tag === 'team-redo' && x.TextBody?.includes('Please smile'))).toBe(
      true,
    );
    // No seat was drawn for it.
    const seats = (
      await stack.api('GET', `/v1/organisations/${run.org}/seats`, { token: run.owner.token })
    ).body.summary.packages.find((p: { package_id: string }) => p.package_id === 'starter');
    expect(seats.used).toBe(N);
  });
});
