/* incident.c: being written */
