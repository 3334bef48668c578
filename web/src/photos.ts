/**
 * Upload selfies, each with its own progress bar, and see each one's verdict as it arrives: the
 * events stream says when a photo's status changes, then its verdict (reasons, hints, faces) is read.
 */
import type { Package, Photo } from '../../clients/typescript/src/index';
import { api, plainError, unwrap } from './api';
import { act, fill, h, showError } from './dom';
import { followPhotoEvents, uploadWithProgress } from './upload';

const STATUS: Record<Photo['status'], string> = {
  preparing: 'Preparing…',
  analysing: 'Checking…',
  usable: 'Usable',
  unusable: 'Not usable',
  rejected: 'Could not be read',
};
const FINAL = new Set<Photo['status']>(['usable', 'unusable', 'rejected']);

export async function photosScreen(main: HTMLElement, signal: AbortSignal): Promise<void> {
  const input = h('input', {
    id: 'files',
    type: 'file',
    accept: 'image/jpeg,image/png,image/webp,image/heic',
    multiple: true,
    'aria-describedby': 'files-help',
  });
  const list = h('ul', { class: 'photos', 'aria-label': 'Your photos' });
  main.append(
    h(
      'p',
      { id: 'files-help' },
      'Upload a few selfies: your face alone, looking at the camera, in good light. Each one is checked within seconds.',
    ),
    h('div', { class: 'upload' }, h('label', { for: 'files', class: 'button' }, 'Choose selfies to upload'), input),
    list,
    h('p', {}, h('a', { href: '#/order', class: 'button' }, 'Continue to order')),
  );

  const items = new Map<string, HTMLLIElement>();
  const previews = new Map<string, string>();
  const photos = new Map<string, Photo>();
  // How many usable photos there are against what each package needs (a different photo for each headshot of a style).
  const packages = await api.GET('/v1/packages').then(unwrap, () => ({ items: [] as Package[] }));
  const count = h('p', { id: 'usable-count', role: 'status' });
  list.before(count);
  const showCount = () => {
    const usable = [...photos.values()].filter((p) => p.status === 'usable' && items.has(p.id)).length;
    const enough = packages.items.filter((p) => p.photos_per_style <= usable).map((p) => p.name);
    const short = packages.items
      .filter((p) => p.photos_per_style > usable)
      .map((p) => `${p.name} needs ${p.photos_per_style}`);
    const said = `${usable} usable ${usable === 1 ? 'photo' : 'photos'}`;
    count.textContent = !short.length
      ? `${said}: enough for every package.`
      : `${said}${enough.length ? `: enough for ${enough.join(' and ')}` : ''}. Each headshot of a style comes from a different photo: ${short.join(', ')}.`;
  };

  const renderPhoto = (li: HTMLLIElement, photo: Photo, name?: string) => {
    li.dataset.status = photo.status;
    photos.set(photo.id, photo);
    // The service's thumbnail (a signed link); while it is being made, the upload's own preview.
    const thumb = photo.thumbnail_url ?? previews.get(photo.id);
    // Each face found, outlined on the thumbnail (positions set through CSSOM, which a CSP allows).
    // The tile takes the photo's own shape, so the outlines sit on the faces at any width.
    const boxes = (photo.verdict?.boxes ?? []).map((b, i) => {
      const box = h('span', { class: i ? 'face other' : 'face' });
      const pct = (v: number, of: number) => `${(100 * v) / of}%`;
      Object.assign(box.style, {
        left: pct(b.x, photo.width),
        top: pct(b.y, photo.height),
        width: pct(b.width, photo.width),
        height: pct(b.height, photo.height),
      });
      return box;
    });
    const reasons = photo.verdict?.reasons ?? [];
    const advice = photo.verdict?.advice ?? [];
    const tile = h(
      'div',
      { class: 'thumb' },
      thumb ? h('img', { src: thumb, alt: '' }) : h('span', { class: 'nothumb' }, photo.detected_type.toUpperCase()),
      ...boxes,
    );
    tile.style.aspectRatio = `${photo.width} / ${photo.height}`;
    showCount();
    fill(
      li,
      tile,
      h(
        'div',
        {},
        h('p', { class: 'name' }, name ?? li.dataset.name ?? `${photo.width}×${photo.height} ${photo.detected_type}`),
        h('p', { class: `status ${photo.status}`, role: 'status' }, STATUS[photo.status]),
        reasons.length > 0 &&
          h(
            'ul',
            { class: 'reasons' },
            reasons.map((r) => h('li', {}, h('span', {}, r.message), ' ', h('strong', {}, r.hint))),
          ),
        // Advice on a usable photo: worth knowing, never a reason it cannot be used.
        advice.length > 0 && h('p', { class: 'help' }, 'Usable as it is. To make it better:'),
        advice.length > 0 &&
          h(
            'ul',
            { class: 'reasons advice' },
            advice.map((a) => h('li', {}, h('span', {}, a.message), ' ', a.hint)),
          ),
        h(
          'button',
          {
            type: 'button',
            class: 'link',
            'aria-label': `Delete ${li.dataset.name ?? 'photo'}`,
            onclick: (e: Event) => void remove(e.currentTarget as HTMLButtonElement, photo.id),
          },
          'Delete',
        ),
      ),
    );
  };

  const remove = (button: HTMLButtonElement, id: string) =>
    act(
      button,
      async () => {
        const res = await api.DELETE('/v1/photos/{id}', { params: { path: { id } } });
        if (!res.response.ok) unwrap(res);
        items.get(id)?.remove();
        items.delete(id);
        showCount();
        input.focus();
      },
      plainError,
    );

  const refresh = async (id: string) => {
    const li = items.get(id);
    if (!li) return;
    renderPhoto(li, unwrap(await api.GET('/v1/photos/{id}', { params: { path: { id } } })));
  };

  const upload = async (file: File) => {
    const li = h('li', { class: 'photo' });
    li.dataset.name = file.name;
    const bar = h('progress', { max: 100, value: 0, 'aria-label': `Uploading ${file.name}` });
    fill(
      li,
      h('div', { class: 'thumb' }),
      h(
        'div',
        {},
        h('p', { class: 'name' }, file.name),
        bar,
        h('p', { class: 'status', role: 'status' }, 'Uploading…'),
      ),
    );
    list.prepend(li);
    const preview = readAsDataUrl(file);
    try {
      const photo = await uploadWithProgress(file, (f) => (bar.value = Math.round(f * 100)));
      previews.set(photo.id, await preview);
      items.set(photo.id, li);
      renderPhoto(li, photo, file.name);
      // The stream may have announced the verdict before this photo was in the list.
      if (!FINAL.has(photo.status)) await refresh(photo.id);
    } catch (err) {
      fill(
        li,
        h('div', { class: 'thumb' }),
        h(
          'div',
          {},
          h('p', { class: 'name' }, file.name),
          h('p', { class: 'status unusable', role: 'status' }, `Not uploaded: ${plainError(err)}`),
        ),
      );
    }
  };

  input.addEventListener('change', () => {
    const files = [...(input.files ?? [])];
    input.value = '';
    void Promise.all(files.map(upload));
  });

  try {
    const page = unwrap(await api.GET('/v1/photos', { params: { query: { limit: 50 } } }));
    for (const photo of page.items) {
      const li = h('li', { class: 'photo' });
      items.set(photo.id, li);
      renderPhoto(li, photo);
      list.append(li);
    }
  } catch (err) {
    showError(plainError(err));
  }
  followPhotoEvents((e) => {
    const li = items.get(e.id);
    if (li && li.dataset.status !== e.status) void refresh(e.id).catch((err) => showError(plainError(err)));
  }, signal).catch((err) => showError(plainError(err)));
}

function readAsDataUrl(file: Blob): Promise<string> {
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => resolve('');
    reader.readAsDataURL(file);
  });
}
