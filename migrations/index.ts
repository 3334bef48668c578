import type { Migration } from 'kysely';
import * as m20261129T000000 from './20261129T000000_initial';
import * as m20261129T120000 from './20261129T120000_privacy_lifecycle';
import * as m20261201T090000 from './20261201T090000_marketing_campaigns';
import * as m20261202T090000 from './20261202T090000_photo_preparation';
import * as m20261203T000000 from './20261203T000000_photo_verdict_at_upload';
import * as m20261203T010000 from './20261203T010000_order_photo_exclusion';
import * as m20261206T000000 from './20261206T000000_open_orders_index';
import * as m20261206T090000 from './20261206T090000_fulfilment';
import * as m20261207T000000 from './20261207T000000_teams';
import * as m20261207T060000 from './20261207T060000_seat_credit_spent';
import * as m20261207T120000 from './20261207T120000_prepared_render';

/** Every migration by its timestamped name; Kysely's Migrator applies them in name order. */
export const migrations: Record<string, Migration> = {
  '20261129T000000_initial': m20261129T000000,
  '20261129T120000_privacy_lifecycle': m20261129T120000,
  '20261201T090000_marketing_campaigns': m20261201T090000,
  '20261202T090000_photo_preparation': m20261202T090000,
  '20261203T000000_photo_verdict_at_upload': m20261203T000000,
  '20261203T010000_order_photo_exclusion': m20261203T010000,
  '20261206T000000_open_orders_index': m20261206T000000,
  '20261206T090000_fulfilment': m20261206T090000,
  '20261207T000000_teams': m20261207T000000,
  '20261207T060000_seat_credit_spent': m20261207T060000,
  '20261207T120000_prepared_render': m20261207T120000,
};
