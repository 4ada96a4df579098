"""Protocol numbers and the segnatura of submitted applications (D-IST-3, D-IST-6, DPR 445/2000 art. 57)."""
