import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ShutdownState } from './shutdown-state';

@Controller()
export class HealthController {
  constructor(private readonly shutdown: ShutdownState) {}

  /** Liveness: the process answers. */
  @Get('healthz')
  healthz(): { status: string } {
    return { status: 'ok' };
  }

  /** Readiness: 503 from the moment shutdown begins, so load balancers stop sending reports. */
  @Get('readyz')
  readyz(): { status: string } {
    if (this.shutdown.isDraining) throw new ServiceUnavailableException('shutting down');
    return { status: 'ready' };
  }
}
