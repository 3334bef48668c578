/**
 * At most N uploads are read and decoded at once per API process. The others wait before their
 * body is read, so it stays in the network buffers instead of this process's memory: the CPU is
 * the limit anyway (decode and re-encode), and memory stays bounded under a burst of 5 MB uploads.
 */
export class UploadGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
