/* explain.c: being written */
