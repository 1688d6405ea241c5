// vmrun as Podman's runtime, through conmon: what a Podman user does every day.
import { engineCases } from '../engines/cases.js';
import { podmanEngine } from '../engines/podman.js';

engineCases(podmanEngine());
