import type { Router } from 'express';
import { listPortfolio, portfolioImage } from '../../core/privacy/portfolio';
import { ctxOf } from '../auth';
import { z } from '../openapi';
import { HttpError } from '../problem';
import { route } from '../route';
import { Cursor, IdParam, idOf, page } from '../schemas';

/** The public portfolio (CN4): no sign-in, no names, no orders, images re-encoded without metadata. */

const PortfolioItem = z
  .object({ id: z.string(), style_id: z.string(), image_url: z.string() })
  .openapi('PortfolioItem');

export function portfolioRoutes(router: Router): void {
  route(
    router,
    {
      method: 'get',
      path: '/v1/portfolio',
      operationId: 'listPortfolio',
      summary: "Headshots published with their owners' consent",
      tags: ['Portfolio'],
      auth: 'none',
      query: Cursor(idOf('pf', 'portfolio item')),
      responses: { 200: { description: 'Newest first', schema: page(PortfolioItem, 'PortfolioPage') } },
    },
    async (req, res, { query }) => {
      const { items, next_cursor } = await listPortfolio(ctxOf(req), query);
      res.setHeader('Cache-Control', 'no-store');
      res.json({
        items: items.map((i) => ({ id: i.id, style_id: i.style_id, image_url: `/v1/portfolio/${i.id}/image` })),
        next_cursor,
      });
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/portfolio/:id/image',
      operationId: 'getPortfolioImage',
      summary: 'A portfolio image, stripped of all metadata',
      tags: ['Portfolio'],
      auth: 'none',
      params: IdParam('pf', 'portfolio item'),
      responses: { 200: { description: 'JPEG', contentType: 'image/jpeg' } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { params }) => {
      const image = await portfolioImage(ctxOf(req), params.id);
      if (!image) throw new HttpError(404, 'not_found', 'Not found', 'No portfolio item with that id.');
      // Not cached anywhere: a withdrawal must make the image disappear at once.
      res.setHeader('Cache-Control', 'no-store');
      res.type('image/jpeg').send(image);
    },
  );
}
