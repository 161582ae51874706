// IDX reader, dataset split, augmentation.
