"""Importers that turn public gold data sets into corpus documents with reference extractions."""
