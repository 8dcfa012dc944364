"""`mmpo iterate`: sample -> pairs -> train -> eval, K rounds, each from the last round's model (`run`)."""
