// Containers that share namespaces by naming another's, as one pod in one guest: a Podman pod,
// and `run --network container:` under Podman and Docker, each beside runc.
import { dockerEngine } from '../engines/docker.js';
import { podCases, sharedNetworkCases } from '../engines/pods.js';
import { podmanEngine } from '../engines/podman.js';

const podman = podmanEngine();
podCases(podman);
sharedNetworkCases(podman);
sharedNetworkCases(dockerEngine());
