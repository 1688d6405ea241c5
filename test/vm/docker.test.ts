// vmrun as a runtime of Docker, through dockerd's containerd and its runc shim: what a Docker
// user does every day.
import { engineCases } from '../engines/cases.js';
import { dockerEngine } from '../engines/docker.js';

engineCases(dockerEngine());
