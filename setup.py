"""Packaging for qwem. All settings live in settings.ini (nbdev's config); edit there, not here.

Written for nbdev 2 projects without `pkg_resources` (gone from recent setuptools)."""
from configparser import ConfigParser
import setuptools

config = ConfigParser(delimiters=['='])
config.read('settings.ini')
cfg = config['DEFAULT']

expected = ('version description keywords author author_email lib_name user branch license status '
            'min_python audience language').split()
for o in expected: assert o in cfg, f"missing expected setting in settings.ini: {o}"

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable',
            '6 - Mature', '7 - Inactive']
lic = licenses.get(cfg['license'].lower(), (cfg['license'], None))


def _reqs(key): return (cfg.get(key) or '').split()


setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    keywords=cfg['keywords'],
    author=cfg['author'],
    author_email=cfg['author_email'],
    license=lic[0],
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title(),
                 'Programming Language :: Python :: 3.11', 'Programming Language :: Python :: 3.12']
                + (['License :: ' + lic[1]] if lic[1] else []),
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=['qwem', 'qwem.*']),
    include_package_data=True,
    install_requires=_reqs('requirements'),
    extras_require={'dev': _reqs('dev_requirements'), 'gpu': _reqs('gpu_requirements')},
    python_requires='>=' + cfg['min_python'],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': _reqs('console_scripts'),
                  'nbdev': [f'index={cfg.get("lib_path")}._modidx']},
)
