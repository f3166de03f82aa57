import { Injectable } from '@nestjs/common';
import type { FilterArtifact } from './filter-artifact';

/** What FilterModule serves, once it has loaded it at start-up (the status page shows it). */
@Injectable()
export class ServedFilter {
  /** FILTER_ROUTE, or `off` while nothing is served. */
  route = 'off';
  artifact: FilterArtifact | undefined;
}
