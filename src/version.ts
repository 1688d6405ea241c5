import pkg from '../package.json' with { type: 'json' };

export const VMRUN_VERSION: string = pkg.version;
/** The runtime-spec version vmrun implements and writes into new configs. */
export const SPEC_VERSION = '1.3.0';
