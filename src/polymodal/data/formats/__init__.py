"""Readers of public dataset formats, each a registered dataset built from config.

- ``mmsa`` (:mod:`~polymodal.data.formats.mmsa`): CMU-MOSI, CMU-MOSEI and CH-SIMS from MMSA's
  feature pickles, read only with ``trust_pickle: true``
  (:mod:`~polymodal.data.formats.mmsa_pickle`).
- ``captions`` (:mod:`~polymodal.data.formats.captions`): COCO caption annotation JSON and
  Karpathy split JSON (``dataset_coco.json``, ``dataset_flickr8k.json``) as image-caption rows.
- ``hf_dataset`` (:mod:`~polymodal.data.formats.hf_dataset`): a Hugging Face dataset saved with
  ``save_to_disk`` (or Parquet files in that layout), columns mapped to modalities.
"""
