import { Injectable } from '@nestjs/common';

/** Whether the process has begun shutting down (readiness fails from that moment on). */
@Injectable()
export class ShutdownState {
  private draining = false;

  begin(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }
}
