import { Global, Module } from '@nestjs/common';
import { StateService } from './state.service';

/** Durable state under STATE_DIR; global so that the reports feature can keep what it applied. */
@Global()
@Module({ providers: [StateService], exports: [StateService] })
export class StateModule {}
