"""What ML libraries mean, as data: APIs and their parameters, roles, families, aliases,
and what hyperparameter names say. Every predicate the facts and rules use reads these
tables; adding a library is adding entries, reviewed like code. Imports nothing of the
rest of mldiff: knowledge is the bottom layer."""
