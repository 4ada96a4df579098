"""The schools list the "schools" fields choose from: codice meccanografico -> name (demo extract)."""

SCHOOLS = {
    "RMIC8AB00X": "Istituto comprensivo Via Roma, Roma",
    "RMPS01000A": "Liceo scientifico Galileo Galilei, Roma",
    "MIIS00900T": "Istituto di istruzione superiore Leonardo, Milano",
    "NAIC8CD00Q": "Istituto comprensivo Partenope, Napoli",
    "TOTF01000E": "Istituto tecnico Avogadro, Torino",
}
