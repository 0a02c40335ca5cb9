/* The simulators' state and control files, as tests read and write them
 * (tests/sim/README.md). Card k's files are named by GP_SIM_STATE_k and
 * GP_SIM_CONTROL_k, which tests/harness/gp-env.sh exports. */
#ifndef GP_TEST_SIM_FILES_H
#define GP_TEST_SIM_FILES_H

/* A value from the state file (counters in decimal; seq, level, i and
 * card_lifecycle in hex), or -1. */
long sim_state(int card, const char *key);
/* Does the state line starting with key contain text? */
int sim_state_has(int card, const char *key, const char *text);
/* Arms a fault: writes the control file whole and renames it into place. */
void sim_control(int card, const char *text);

#endif
