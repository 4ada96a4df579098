"""Applications (istanze): the user's declared staff category and drafts saved section by section."""
