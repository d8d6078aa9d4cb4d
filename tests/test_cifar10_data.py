"""CIFAR-10 loader on archives written in the real formats by ``cifar_archives``."""
import numpy as np
import pytest

from cifar_archives import write_binary_archive, write_cifar10_archive
from gluon_aff.data import CIFAR10, load_cifar, load_cifar10, load_cifar100


@pytest.mark.parametrize('kind', ['python', 'binary'])
@pytest.mark.parametrize('extract,into_folder', [(False, True), (True, True), (True, False)])
def test_loader_reads_both_formats(tmp_path, kind, extract, into_folder):
    splits = write_cifar10_archive(str(tmp_path), kind, extract=extract, into_folder=into_folder)
    for train, split in ((True, 'train'), (False, 'test')):
        images, labels = splits[split]
        got, got_labels, names = load_cifar10(str(tmp_path), train=train)
        assert got.shape == images.shape == ((50 if train else 20), 32, 32, 3)
        assert got.dtype == np.uint8 and got_labels.dtype == np.int32
        np.testing.assert_array_equal(got, images)        # the 5 batches, in order
        np.testing.assert_array_equal(got_labels, labels)
        assert names == ['k%d' % i for i in range(10)]


def test_dataset_items(tmp_path):
    images, labels = write_cifar10_archive(str(tmp_path), 'python')['test']
    ds = CIFAR10(str(tmp_path), train=False)
    assert len(ds) == 20 and ds.classes == 10 and ds.label_names[3] == 'k3'
    img, label = ds[7]
    np.testing.assert_array_equal(img.asnumpy(), images[7])
    assert label == labels[7]


def test_each_data_set_reads_its_own_files(tmp_path):
    c100 = write_binary_archive(str(tmp_path), extract=True)      # train.bin, test.bin loose
    c10 = write_cifar10_archive(str(tmp_path), 'binary', extract=True, into_folder=False)
    np.testing.assert_array_equal(load_cifar10(str(tmp_path))[0], c10['train'][0])
    np.testing.assert_array_equal(load_cifar100(str(tmp_path))[0], c100['train'][0])
    only10 = tmp_path / 'only10'
    write_cifar10_archive(str(only10), 'python')
    with pytest.raises(FileNotFoundError) as err:
        load_cifar100(str(only10))
    assert 'no CIFAR-100 data' in str(err.value)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_cifar10(str(tmp_path))
    assert 'no CIFAR-10 data in %s' % tmp_path in str(err.value)
    assert 'cifar-10-python.tar.gz' in str(err.value) and 'cifar-10-binary.tar.gz' in \
        str(err.value)
    write_cifar10_archive(str(tmp_path), 'binary', extract=True)
    with open(str(tmp_path / 'cifar-10-batches-bin' / 'data_batch_3.bin'), 'ab') as f:
        f.write(b'\x00' * 5)
    with pytest.raises(ValueError, match='corrupt CIFAR-10 data .*data_batch_3.bin.*multiple '
                                         'of the 3073-byte record'):
        load_cifar10(str(tmp_path))
    load_cifar10(str(tmp_path), train=False)          # the test batch is intact
    with pytest.raises(ValueError, match='CIFAR-10 has one label set'):
        load_cifar(str(tmp_path), 'cifar10', labels='fine')
    with pytest.raises(ValueError, match='dataset must be one of'):
        load_cifar(str(tmp_path), 'svhn')
